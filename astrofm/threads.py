"""Running small torch operations on one thread.

Splitting a cutout-sized operation across threads costs more in hand-offs than it
saves, and on a busy machine torch's spinning worker threads make it far slower: a
224 x 224 resize took 1 ms on one thread and 12 ms on two, and full-batch L-BFGS of an
MLP head on 40 feature vectors 15 s against 163 s, both measured on two shared cores.
"""

from __future__ import annotations

import contextlib

__all__ = ["one_thread"]


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside the block, then restore the thread count.

    DataLoader workers already run one thread each; this covers work done in the main
    process on small tensors (a resize, a classification head).
    """
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
