"""Loss terms compute in (at least) float32: half-precision inputs are upcast first.

float16 overflows at 65504 (``exp(11.1)``, ``256²``), so a KL, a squared error or a log
density of float16 model outputs would be ``inf`` for ordinary values; bfloat16 has float32's
range but three significant digits. Upcasting before any ``exp``, square or sum keeps every
loss term finite and accurate whatever the model computes in (cf. ``mixed_precision``, which
casts model outputs back to float32, and the quantizers' float32 losses).
"""

import jax.numpy as jnp
from jaxtyping import Array


def at_least_float32(x) -> Array:
    """``x`` as a JAX array of at least float32 precision.

    Its dtype is ``promote_types(x.dtype, float32)``: float16 and bfloat16 (and integers) become
    float32, float32 (and float64 when enabled) stay as they are.
    """
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))
