"""A learned label embedding: the alternative to one-hot codes."""

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Integer

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.conditioning._one_hot import check_labels


class LabelEmbedding(nnx.Module):
    """Maps integer labels to learned vectors: ``labels (batch,) -> (batch, dim)``.

    A table of ``num_classes`` rows (an ``nnx.Embed``), plus one more row when
    ``null_class=True``: row ``num_classes`` is the "null" (unconditional) label used for
    classifier-free guidance (Ho & Salimans 2022). Concrete labels outside the table raise;
    under ``jax.jit`` an out-of-range label gives an all-zero row, as :func:`one_hot` does.

    Args:
      num_classes: number of real classes ``K >= 1``.
      dim: embedding size ``>= 1``.
      null_class: add the null row ``K``.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> emb = LabelEmbedding(10, 4, null_class=True, rngs=nnx.Rngs(0))
      >>> emb(jnp.array([3, 10])).shape
      (2, 4)
    """

    def __init__(self, num_classes: int, dim: int, *, null_class: bool = False, rngs: nnx.Rngs):
        self.num_classes = check_int(num_classes, "num_classes")
        self.dim = check_int(dim, "dim")
        self.null_class = bool(null_class)
        self.num_labels = self.num_classes + int(self.null_class)
        self.embed = nnx.Embed(self.num_labels, self.dim, rngs=rngs)

    @property
    def null_label(self) -> int | None:
        """The index of the null row (``num_classes``), or None without ``null_class``."""
        return self.num_classes if self.null_class else None

    def __call__(self, labels: Integer[AnyArray, " batch"]) -> Float[Array, "batch dim"]:
        """The embeddings ``(batch, dim)`` of integer ``labels``."""
        check_labels(labels, self.num_labels)
        table = self.embed.embedding[...]
        return jnp.take(table, jnp.asarray(labels), axis=0, mode="fill", fill_value=0.0)
