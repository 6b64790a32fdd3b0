"""A griffe extension (used by mkdocs.yml) for the Napoleon-style docstrings vaekit writes.

vaekit's docstrings follow the Google style as Sphinx Napoleon reads it; griffe's Google parser
is stricter. Before griffe parses a docstring this extension rewrites, in the text it renders
only (the source is untouched):

- an ``Example:`` section heading to ``Examples:``, so ``>>>`` lines render as code blocks
  (griffe treats ``Example:`` as a prose admonition);
- Sphinx roles ``:func:`~pkg.mod.name``` to inline code ``name`` (and ``:func:`name``` to
  ``name``): markdown has no roles;
- an ``Args:`` entry naming several parameters (``num_codes, dim: ...``) to one entry per name
  with the same description;
- an ``Args:`` line that starts no ``name: description`` entry to a continuation of the entry
  before it.

Nothing else changes: a docstring griffe still cannot parse fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params):\s*$")
_ENTRY = re.compile(r"^\*{0,2}\w+(?:\s*\([^)]*\))?\s*:(?:\s|$)")
_MULTI = re.compile(r"^(\w+(?:\s*,\s*\w+)+)\s*:(.*)$")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    target = target.strip()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"``{target}``"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fix_args(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        header = _SECTION.match(line)
        if not header:
            continue
        base = len(header.group(1))
        item: int | None = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= base:
                break  # the next section
            if not line.strip() or (item is not None and _indent(line) > item):
                out.append(line)
                i += 1
                continue
            item = _indent(line) if item is None else item
            text = line.strip()
            multi = _MULTI.match(text)
            if multi:
                body = [multi.group(2)]
                i += 1
                while i < len(lines) and lines[i].strip() and _indent(lines[i]) > item:
                    body.append("\n" + lines[i])
                    i += 1
                for name in multi.group(1).split(","):
                    out.append(" " * item + name.strip() + ":" + "".join(body))
                continue
            if not _ENTRY.match(text) and out and out[-1].strip():
                out.append(" " * (item + 2) + text)  # prose: part of the entry before it
            else:
                out.append(line)
            i += 1
    return out


def normalize(text: str) -> str:
    """The docstring ``text`` as griffe's Google parser expects it (see the module docstring)."""
    text = _ROLE.sub(_role, text)
    text = re.sub(r"^(\s*)Example:\s*$", r"\1Examples:", text, flags=re.M)
    return "\n".join(_fix_args(text.split("\n")))


class NapoleonDocstrings(griffe.Extension):
    """Rewrites each docstring with :func:`normalize` when griffe loads its object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
