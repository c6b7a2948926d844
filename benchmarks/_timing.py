"""Timing and machine description shared by the throughput benchmarks.

Each benchmark runs as ``python benchmarks/<name>.py``, which puts this folder
on ``sys.path``, so they import it as ``from _timing import timed``.
"""

import os
import time


def timed(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` once and time it.

    Returns
    -------
    result : object
        What ``function`` returned.
    wall : float
        Wall-clock seconds.
    cpu : float
        CPU seconds of this process, all threads together.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def machine():
    """The CPUs and torch's version and threads, for the line above the results."""
    import torch

    return (
        f"{os.cpu_count()} CPU(s), torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s)"
    )
