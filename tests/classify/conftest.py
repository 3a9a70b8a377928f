"""Fixtures of the classification tests: separable toy images, tiny backbones."""

import numpy as np
import pytest
import torch


@pytest.fixture
def tiny_vit():
    """Build options of a two-block DINOv2-small of width 48 (patch 14: 28 px inputs)."""
    return {"depth": 2, "embed_dim": 48, "num_heads": 3}


@pytest.fixture(autouse=True)
def fresh_cache():
    """No feature table kept from another test (tests/conftest.py gives one torch thread)."""
    from astrofm.classify.features import clear_memory

    clear_memory()
    yield
    clear_memory()


def toy_images(n, seed, contrast=150, side=32, classes=("a", "b"), counts=None):
    """8-bit noise images; class 1 holds a bright square, class 0 a bright bar.

    ``counts`` gives the number of images per class (default: alternating classes).
    """
    rng = np.random.default_rng(seed)
    labels = (np.repeat(np.arange(len(counts)), counts) if counts is not None
              else np.arange(n) % 2)
    images = rng.integers(0, 60, size=(len(labels), side, side)).astype(np.uint8)
    q = side // 4
    images[labels == 1, q:3 * q, q:3 * q] += contrast
    images[labels == 0, q:3 * q, side // 2 - 2:side // 2 + 2] += contrast
    return images, labels, np.array(classes)


@pytest.fixture
def toy():
    """Factory of labelled toy ArrayDatasets: ``toy(n, seed, **kwargs)``."""
    from astrofm.data import ArrayDataset

    def make(n=40, seed=0, **kwargs):
        images, labels, names = toy_images(n, seed, **kwargs)
        return ArrayDataset({"images": images, "labels": labels, "label_names": names})

    return make


@pytest.fixture
def separable():
    """Linearly separable features: 3 classes of 30 in 16 dimensions."""
    gen = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(3, 16, generator=gen)
    y = torch.arange(90) % 3
    x = centres[y] + torch.randn(90, 16, generator=gen)
    return x, y
