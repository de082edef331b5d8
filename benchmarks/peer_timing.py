"""The timer every peer benchmark script uses (PyTorch's and Keras'): no framework import, so both can share it."""
import statistics
import time


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
