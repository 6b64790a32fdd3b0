"""Optional linear projections between a model's latent width and a quantizer's code width."""

from flax import nnx
from jaxtyping import Array


class CodeProjection(nnx.Module):
    """In/out ``nnx.Linear`` maps ``dim <-> code_dim``, or identities when the widths agree.

    Shared by the implicit-codebook quantizers (FSQ, LFQ) whose code width is fixed by their
    levels / bits. ``names`` are the user-facing argument names used in the error message.
    """

    def __init__(self, dim: int, code_dim: int, rngs: nnx.Rngs | None,
                 names: tuple[str, str]):
        if dim != code_dim:
            if rngs is None:
                raise ValueError(
                    f"`rngs` is required when `{names[0]}` ({dim}) differs from {names[1]} "
                    f"({code_dim}): the projections have parameters."
                )
            self.project_in = nnx.Linear(dim, code_dim, rngs=rngs)
            self.project_out = nnx.Linear(code_dim, dim, rngs=rngs)
        else:
            self.project_in = None
            self.project_out = None

    def into(self, z: Array) -> Array:
        return z if self.project_in is None else self.project_in(z)

    def out(self, codes: Array) -> Array:
        return codes if self.project_out is None else self.project_out(codes)
