"""Lazy import of scikit-learn, the optional ``eval`` extra of vaekit."""

import importlib
from types import ModuleType


def import_sklearn(module: str) -> ModuleType:
    """Imports ``module`` (e.g. ``"sklearn.svm"``) or explains how to install scikit-learn.

    Raises:
      ImportError: naming the ``eval`` extra (``pip install vaekit[eval]``) when scikit-learn
        is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"vaekit.evaluation needs scikit-learn ({module!r} could not be imported): "
            "pip install vaekit[eval]"
        ) from err
