"""A fixed torch thread count for the duration of a fit or a prediction.

Torch sums floats in an order that depends on its intra-op thread count, so
the same seed gave different fits under ``torch.set_num_threads(1)`` and
``(2)``, and sixteen epochs of fine-tuning grew the last bits into different
models. The networks this package debiases are mostly small, where extra
threads buy nothing and, on a loaded machine, cost a great deal (a default
fit took 44 s with 1 thread and 501 s with 2 beside three other CPU-bound
processes). So every fit and prediction runs with a thread count chosen from
the network's size, and the user's setting is restored afterwards.
"""

import contextlib
import os

import torch

__all__ = ["LARGE_NETWORK_PARAMETERS", "threads_for", "torch_threads"]

#: Networks with fewer parameters run on one thread; larger ones (a CNN) may use up to MAX_THREADS.
LARGE_NETWORK_PARAMETERS = 1_000_000
MAX_THREADS = 4


def threads_for(network, n_threads=None):
    """The thread count to run ``network`` with: ``n_threads`` if given, else by its size.

    Parameters
    ----------
    network : torch.nn.Module
    n_threads : int, optional

    Returns
    -------
    int
    """
    if n_threads is not None:
        return int(n_threads)
    size = sum(p.numel() for p in network.parameters())
    return 1 if size < LARGE_NETWORK_PARAMETERS else max(1, min(MAX_THREADS, os.cpu_count() or 1))


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``torch.set_num_threads(n_threads)``, then restore the caller's count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
