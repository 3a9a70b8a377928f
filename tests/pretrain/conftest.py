"""Fixtures for the pretraining tests: a few small float images."""

import numpy as np
import pytest

#: A two-block ViT of width 32: the size every ViT test of the suite uses.
TINY_VIT = {"depth": 2, "embed_dim": 32, "num_heads": 2}

#: DINO's head and loss, small enough for a test.
TINY_DINO = {"n_local": 2, "hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64}


@pytest.fixture
def images():
    """Four 40 x 40 float images: Gaussian sources on noise, as FITS data would be."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :40]
    out = []
    for _ in range(4):
        x0, y0 = rng.uniform(12, 28, size=2)
        source = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * rng.uniform(2, 5) ** 2))
        out.append((source + 0.05 * rng.normal(size=source.shape)).astype(np.float32))
    return out
