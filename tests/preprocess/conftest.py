"""Fixtures of the preprocessing tests: small generated images, some with a WCS."""

import numpy as np
import pytest
from astropy.wcs import WCS

from astrofm import AstroImage


def make_wcs(shape, scale_arcsec=1.0):
    """A TAN WCS of 1 arcsec pixels whose reference pixel is near the image centre."""
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [w / 2 + 0.5, h / 2 + 0.5]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    wcs.pixel_shape = (w, h)
    return wcs


def gaussian(shape, x, y, amplitude=1.0, sx=2.0, sy=2.0):
    """A Gaussian centred at ``(x, y)`` in the edge convention (pixel i covers [i, i+1))."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    return amplitude * np.exp(-((xx - x) ** 2 / (2 * sx**2) + (yy - y) ** 2 / (2 * sy**2)))


def radio_like(shape=(132, 132), seed=0, lobes=((50, 66), (82, 66)), noise=1e-4):
    """Noise plus a double-lobed source, in Jy/beam-like units."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, noise, shape)
    for i, (x, y) in enumerate(lobes):
        data += gaussian(shape, x, y, amplitude=(5e-3, 3e-3, 1e-3)[i % 3], sx=4.0, sy=2.5)
    return data.astype(np.float32)


@pytest.fixture
def radio_image():
    """A 132x132 radio-like cutout with a WCS."""
    return AstroImage(radio_like(), wcs=make_wcs((132, 132)), source="radio.fits")


@pytest.fixture
def radio_batch():
    """Three radio-like cutouts of one shape, different noise and sources."""
    return [
        AstroImage(radio_like(seed=s, lobes=lobes), wcs=make_wcs((132, 132)), source=f"r{s}")
        for s, lobes in enumerate([((50, 66), (82, 66)), ((66, 60),), ((40, 40), (90, 95))])
    ]
