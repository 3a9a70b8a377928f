"""Small embed tables for the discovery tests."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS


def make_table(n=240, dim=16, clusters=4, seed=0, spread=0.3):
    """A table shaped like astrofm.embed's: clustered features, sky positions, labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    label = rng.integers(clusters, size=n)
    table = Table()
    table["source"] = [f"obj{i:04d}.fits" for i in range(n)]
    table["feature"] = (centres[label] + spread * rng.normal(size=(n, dim))).astype(np.float32)
    table["label"] = label
    table["class_name"] = [f"class{k}" for k in label]
    table["ra"] = rng.uniform(0, 360, n)
    table["dec"] = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    table["error"] = [""] * n
    table.meta.update({"MODEL": "toy", "WEIGHTS": "random (seed 0)", "WDIGEST": "sha1:toy",
                       "POOLING": "cls", "PREPROC": "{}"})
    return table


@pytest.fixture
def table():
    return make_table()


@pytest.fixture(scope="session")
def resnet():
    """ResNet-18 with random weights (seed 0): unlike a tiny random ViT, whose vectors for
    different images agree to 1e-6, it keeps these images apart."""
    from astrofm import backbones

    return backbones.load("resnet18", weights=None)


@pytest.fixture
def fits_images(tmp_path):
    """Eight 32x32 FITS images with a WCS, each with a blob at its own place."""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(8):
        data = rng.normal(size=(32, 32)).astype(np.float32)
        data[2 + 3 * i:8 + 3 * i, 4 + 2 * i:10 + 2 * i] += 40
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [150.0 + i, 2.0]
        w.wcs.crpix = [16.5, 16.5]
        w.wcs.cdelt = [-1 / 3600, 1 / 3600]
        path = tmp_path / f"img{i}.fits"
        fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
        paths.append(path)
    return paths
