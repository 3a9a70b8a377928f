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
def tiny_vit():
    """A 2-block DINOv2-small (patch 14, width 48) with random weights."""
    from astrofm import backbones

    return backbones.load("dinov2-small", weights=None, depth=2, embed_dim=48, num_heads=3)


@pytest.fixture
def fits_images(tmp_path):
    """Eight 32x32 FITS images with a WCS: blobs at four places, twice each."""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(8):
        data = rng.normal(size=(32, 32)).astype(np.float32)
        y = 4 + 6 * (i % 4)
        data[y:y + 5, 12:18] += 40
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [150.0 + i, 2.0]
        w.wcs.crpix = [16.5, 16.5]
        w.wcs.cdelt = [-1 / 3600, 1 / 3600]
        path = tmp_path / f"img{i}.fits"
        fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
        paths.append(path)
    return paths
