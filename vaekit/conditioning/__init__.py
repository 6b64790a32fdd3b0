"""Conditioning a model on labels: pure functions and two small NNX modules.

* codes: :func:`one_hot` (checked with :func:`check_labels`) or a learned
  :class:`LabelEmbedding` (optionally with a null row for classifier-free guidance);
* attaching a code: :func:`concat_label` (features) and :func:`broadcast_label_channels`
  (constant image channels), as in the conditional VAE of Sohn et al. 2015;
* modulation: :func:`film` and a zero-initialised :class:`FiLMGenerator` (Perez et al. 2018);
* classifier-free guidance (Ho & Salimans 2022): :func:`drop_labels` for training and
  :func:`guided_logits` for sampling.
"""

from vaekit.conditioning._concat import broadcast_label_channels, concat_label
from vaekit.conditioning._dropout import drop_labels
from vaekit.conditioning._embedding import LabelEmbedding
from vaekit.conditioning._film import FiLMGenerator, film
from vaekit.conditioning._guidance import guided_logits
from vaekit.conditioning._one_hot import check_labels, one_hot

__all__ = [
    "FiLMGenerator",
    "LabelEmbedding",
    "broadcast_label_channels",
    "check_labels",
    "concat_label",
    "drop_labels",
    "film",
    "guided_logits",
    "one_hot",
]
