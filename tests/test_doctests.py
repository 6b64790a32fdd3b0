"""The docstring examples (``>>>``) of every vaekit module run as doctests.

One test per module, found with ``pkgutil.walk_packages`` and ``doctest.DocTestFinder`` (only
the examples of objects defined in that module, so a re-export is not run twice). Modules are
imported inside the pytest session, so the jaxtyping/beartype import hook of the pytest
``addopts`` checks the shapes and types of every call an example makes.
"""

import doctest
import importlib
import pkgutil

import pytest

import vaekit

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# module -> why its examples are not run. Keep it empty where possible; an entry is a bug to fix
# in that module's docstrings (or a module whose examples cannot run in the test environment).
EXCLUDED: dict[str, str] = {}


def _module_names() -> list[str]:
    names = ["vaekit"]
    for info in pkgutil.walk_packages(vaekit.__path__, prefix="vaekit."):
        names.append(info.name)
    return sorted(names)


def _params() -> list:
    params = []
    for name in _module_names():
        marks = [pytest.mark.skip(reason=EXCLUDED[name])] if name in EXCLUDED else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def test_the_exclusion_list_names_real_modules():
    unknown = sorted(set(EXCLUDED) - set(_module_names()))
    assert not unknown, f"EXCLUDED names modules that do not exist: {unknown}"


@pytest.mark.parametrize("module_name", _params())
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    tests = [t for t in tests if t.examples]
    if not tests:
        pytest.skip(f"{module_name} has no docstring examples")
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: list[str] = []
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    failed = runner.failures
    assert failed == 0, f"{failed} failing example(s) in {module_name}:\n" + "".join(report)
