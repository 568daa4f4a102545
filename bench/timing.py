"""Wall-clock samples for the in-process benchmarks."""

import time


def timed(fn, runs):
    """The times of `runs` calls of `fn`, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples
