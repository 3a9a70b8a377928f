import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS


@pytest.fixture(scope="session")
def tiny_vit():
    """A 2-block DINOv2-small (patch 14, width 48) with random weights."""
    from astrofm import backbones

    return backbones.load("dinov2-small", weights=None, depth=2, embed_dim=48, num_heads=3)


def _sky_wcs(n=64, ra=150.0, dec=2.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    return w


@pytest.fixture
def fits_files(tmp_path):
    """Five 64x64 noise images with a bright blob each, with a WCS."""
    rng = np.random.default_rng(7)
    paths = []
    for i in range(5):
        data = rng.normal(size=(64, 64)).astype(np.float32)
        data[20 + 4 * i:26 + 4 * i, 30:36] += 30
        path = tmp_path / f"img{i}.fits"
        fits.PrimaryHDU(data, header=_sky_wcs(ra=150.0 + i).to_header()).writeto(path)
        paths.append(path)
    return paths


@pytest.fixture
def sky_wcs():
    """Factory of 1-arcsec TAN WCSs centred on an n x n image."""
    return _sky_wcs
