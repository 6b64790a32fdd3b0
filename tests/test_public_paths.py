"""One import path per name: implementation modules are private, subpackages are the API.

Every module inside a subpackage of vaekit has a leading underscore (optax's ``_src`` rule,
here per file), except the optional-extra entry points listed in ``PUBLIC_MODULES``; a public
name is imported from its subpackage (``vaekit.objectives.beta_vae``), never from the file
that defines it, and the docstring examples show that path.
"""

import doctest
import importlib
import pkgutil
import re

import pytest

import vaekit

# Modules that are public on purpose: importing them needs an optional extra, so their
# subpackage cannot re-export them (``vaekit.data.stream`` needs grain).
PUBLIC_MODULES = {"vaekit.data.stream"}


def _subpackages() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(vaekit.__path__, "vaekit.")
                  if info.ispkg)


def _all_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(vaekit.__path__, "vaekit."))


def test_subpackages_exist():
    assert len(_subpackages()) >= 10, _subpackages()


@pytest.mark.parametrize("package", _subpackages())
def test_implementation_modules_are_private(package):
    module = importlib.import_module(package)
    public = [
        f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)
        if not info.name.startswith("_") and f"{package}.{info.name}" not in PUBLIC_MODULES
    ]
    assert not public, (
        f"{package} has public implementation modules {public}: rename them with a leading "
        "underscore and re-export their public names from the package's __init__."
    )


def test_every_public_name_is_defined_in_a_private_module_or_a_public_one_listed():
    for package in _subpackages():
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            home = getattr(value, "__module__", None)
            if not isinstance(home, str) or not home.startswith("vaekit."):
                continue  # constants, aliases of foreign types
            last = home.rsplit(".", 1)[-1]
            assert (last.startswith("_") or home in PUBLIC_MODULES
                    or home in _subpackages() or home == "vaekit"), (
                f"{package}.{name} is defined in the public module {home}")


_IMPORT = re.compile(r"from (vaekit\.\w+)\.(_\w+) import ([\w, ]+)")


def test_docstring_examples_import_public_names_from_their_package():
    finder = doctest.DocTestFinder(exclude_empty=True)
    offenders = []
    for module_name in _all_modules():
        module = importlib.import_module(module_name)
        for test in finder.find(module, module_name):
            for example in test.examples:
                for package, private, names in _IMPORT.findall(example.source):
                    exported = getattr(importlib.import_module(package), "__all__", ())
                    source = importlib.import_module(f"{package}.{private}")
                    shown = [n.strip() for n in names.split(",") if n.strip()]
                    public = [n for n in shown if n in exported
                              and getattr(importlib.import_module(package), n)
                              is getattr(source, n)]
                    if public:
                        offenders.append(f"{test.name}: {public} from {package}.{private}")
    assert not offenders, "examples that should import from the package:\n" + "\n".join(
        offenders)


def test_subpackage_exports_resolve_to_one_object_per_top_level_name():
    # `vaekit.NAME` and `vaekit.SUBPACKAGE.NAME` name the same object wherever both exist.
    for package in _subpackages():
        module = importlib.import_module(package)
        for name in module.__all__:
            if name in vaekit.__all__:
                assert getattr(vaekit, name) is getattr(module, name), (
                    f"vaekit.{name} and {package}.{name} are different objects")
