"""Quantizers: pure functions plus small NNX holders for codebooks and EMA statistics.

Vector quantization (van den Oord et al. 2017) with straight-through or rotation-trick
gradients, EMA codebooks with dead-code reset (the robust default), k-means initialisation,
residual VQ, FSQ (Mentzer et al. 2023) and LFQ (Yu et al. 2023).
"""

from vaekit.quantizers._dead_code import reset_dead_codes
from vaekit.quantizers._ema import EMAState, ema_update, init_ema_state
from vaekit.quantizers._fsq import (
    FSQ,
    fsq_bound,
    fsq_codes_to_indices,
    fsq_implicit_codebook,
    fsq_indices_to_codes,
    fsq_quantize,
    round_ste,
)
from vaekit.quantizers._kmeans import kmeans_init
from vaekit.quantizers._lfq import (
    LFQ,
    LFQ_MAX_ENTROPY_DIM,
    LFQEntropy,
    lfq_codes_to_indices,
    lfq_commitment_loss,
    lfq_entropy,
    lfq_entropy_loss,
    lfq_implicit_codebook,
    lfq_indices_to_codes,
    lfq_quantize,
)
from vaekit.quantizers._module import CODEBOOK_INITS, EMAStats, VectorQuantizer
from vaekit.quantizers._nearest import nearest_code
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers._residual import ResidualVQ
from vaekit.quantizers._usage import code_usage_metrics, perplexity
from vaekit.quantizers._vector_quantize import (
    ESTIMATORS,
    VQResult,
    code_usage,
    quantize,
    rotation_trick,
    straight_through,
)

__all__ = [
    "CODEBOOK_INITS",
    "ESTIMATORS",
    "FSQ",
    "LFQ",
    "LFQ_MAX_ENTROPY_DIM",
    "EMAState",
    "EMAStats",
    "LFQEntropy",
    "QuantizerOutput",
    "ResidualVQ",
    "VQResult",
    "VectorQuantizer",
    "code_usage",
    "code_usage_metrics",
    "ema_update",
    "fsq_bound",
    "fsq_codes_to_indices",
    "fsq_implicit_codebook",
    "fsq_indices_to_codes",
    "fsq_quantize",
    "init_ema_state",
    "kmeans_init",
    "lfq_codes_to_indices",
    "lfq_commitment_loss",
    "lfq_entropy",
    "lfq_entropy_loss",
    "lfq_implicit_codebook",
    "lfq_indices_to_codes",
    "lfq_quantize",
    "nearest_code",
    "perplexity",
    "quantize",
    "reset_dead_codes",
    "rotation_trick",
    "round_ste",
    "straight_through",
]
