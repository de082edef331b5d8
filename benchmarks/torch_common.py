"""What the PyTorch benchmark scripts share: the median-rate timer (peer_timing) and the pair head's features."""

import torch
import torch.nn.functional as F

from peer_timing import median_rate  # noqa: F401  (re-exported for the torch_*.py scripts)


def pair_features(ea, eb):
    """(a-b)^2, a^2-b^2 and cos(a,b), concatenated: the library's Head<SqDiff, DiffSq, Cosine>."""
    cos = F.cosine_similarity(ea, eb, dim=1, eps=1e-6).unsqueeze(1)
    return torch.cat([(ea - eb) ** 2, ea * ea - eb * eb, cos], dim=1)
