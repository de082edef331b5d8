"""What the PyTorch benchmark scripts share: the median-rate timer and the pair head's features."""
import statistics
import time

import torch
import torch.nn.functional as F


def pair_features(ea, eb):
    """(a-b)^2, a^2-b^2 and cos(a,b), concatenated: the library's Head<SqDiff, DiffSq, Cosine>."""
    cos = F.cosine_similarity(ea, eb, dim=1, eps=1e-6).unsqueeze(1)
    return torch.cat([(ea - eb) ** 2, ea * ea - eb * eb, cos], dim=1)


def median_rate(step, items, rounds, reps):
    """Items per second: the median over `rounds` rounds of `reps` calls, after 3 warm-up calls."""
    for _ in range(3):
        step()
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        rates.append(items * reps / (time.perf_counter() - t0))
    return statistics.median(rates)
