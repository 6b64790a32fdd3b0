"""Train/eval mode of vaekit's modules, in flax NNX's convention.

``model.eval()`` sets ``deterministic = True`` on every submodule that has the attribute
(``nnx.Dropout``, and vaekit's quantizers and VQ-VAEs), ``model.train()`` sets it back; the
evaluation of :func:`vaekit.make_train_step` runs the forward of an ``eval()`` copy.
"""


def resolve_train(module: object, train: bool | None) -> bool:
    """``train`` when given, else the module's mode: ``not module.deterministic``.

    Example:
      >>> from flax import nnx
      >>> class M(nnx.Module):
      ...     def __init__(self):
      ...         self.deterministic = False
      >>> m = M(); m.eval()
      >>> resolve_train(m, None), resolve_train(m, True)
      (False, True)
    """
    if train is None:
        return not getattr(module, "deterministic", False)
    return bool(train)
