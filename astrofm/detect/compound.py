"""Sources of several peaks in one island, boxed as a catalogue boxes them.

Real radio sources are often not one Gaussian: a jet with knots, a lobe with a hotspot,
a core joined to its lobe. A catalogue lists such emission as one entry: Radio Galaxy
Zoo counts a component per island of emission above :math:`3\\sigma`, and PyBDSF
groups the Gaussians of an island into one source. A detector trained only on single
Gaussians has never seen this, and on a real survey puts a box on every knot of a jet
(on the FIRST cutouts of MiraBest, most of its false detections are extra boxes inside
an island that holds a catalogued component).

Here a share of the generated sources becomes a *chain*: two or three Gaussians of
the source's observed shape, laid along its major axis (or a random axis for a point
source) 1.25 to 1.6 FWHMs apart, which is close enough for their sum to stay above the
island threshold between bright peaks, and far enough for each to keep its own peak
(the ``"="`` link of :mod:`astrofm.detect.radio_galaxies`). The label is then
*measured*: the components whose centres lie on one island of the noiseless model
above ``ISLAND_SNR`` times the rms (8-connected, as
:func:`~astrofm.detect.radio_galaxies.rgz_label` counts islands) make one catalogue
entry, boxed by the union of their boxes; a faint chain whose components fall apart
into separate islands gives one entry per island.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ISLAND_SNR", "CHAIN_LENGTHS", "chains", "catalogue_entries"]

#: Island threshold in rms (PyBDSF's ``thresh_isl``, Radio Galaxy Zoo's contours).
ISLAND_SNR = 3.0
#: Number of Gaussians in a chain, drawn uniformly.
CHAIN_LENGTHS = (2, 3)
#: Spacing of a chain's Gaussians in FWHMs along its axis.
_GAP = (1.25, 1.6)


def chains(rng, x, y, snr, major, minor, theta, extended, fraction: float) -> dict:
    """The Gaussians of drawn sources, with a share of them made chains.

    Parameters
    ----------
    rng : numpy.random.Generator
        Untouched when ``fraction`` is 0, so fields drawn without chains do not change.
    x, y, snr, major, minor, theta, extended : numpy.ndarray
        The drawn sources: centres (edge convention), peak S/N and observed FWHM
        ellipses in pixels (radians from +x).
    fraction : float
        Share of sources made chains.

    Returns
    -------
    dict of numpy.ndarray
        One entry per Gaussian: ``x``, ``y``, ``snr``, ``major``, ``minor``, ``theta``,
        ``extended`` and ``source`` (the index of the source it belongs to). A chain
        is centred on its source, and its first Gaussian has the source's S/N; the
        others 0.5 to 1 times that.
    """
    n = len(x)
    parts = {"x": x, "y": y, "snr": snr, "major": major, "minor": minor, "theta": theta,
             "extended": extended, "source": np.arange(n)}
    if fraction <= 0 or not n:
        return parts
    chained = rng.random(n) < fraction
    length = np.where(chained, rng.choice(CHAIN_LENGTHS, n), 1)
    axis = np.where(extended, theta, rng.uniform(0, np.pi, n))
    gap = rng.uniform(*_GAP, n) * major
    source = np.repeat(np.arange(n), length)
    # Position along the chain, centred: -0.5, 0.5 for two; -1, 0, 1 for three.
    first = np.cumsum(length) - length
    step = np.arange(len(source)) - np.repeat(first, length) - np.repeat((length - 1) / 2, length)
    dimmer = np.where(step == np.repeat(-(length - 1) / 2, length), 1.0,
                      rng.uniform(0.5, 1.0, len(source)))
    along = step * gap[source]
    return {"x": x[source] + along * np.cos(axis[source]),
            "y": y[source] + along * np.sin(axis[source]),
            "snr": snr[source] * dimmer, "major": major[source], "minor": minor[source],
            "theta": theta[source], "extended": extended[source] | (length[source] > 1),
            "source": source}


def catalogue_entries(shape, parts: dict, model, rms) -> np.ndarray:
    """Which catalogue entry each Gaussian belongs to: one per island of its source.

    Parameters
    ----------
    shape : (int, int)
        The field's ``(H, W)``.
    parts : dict of numpy.ndarray
        What :func:`chains` returned.
    model : callable
        ``model(indices)``: the noiseless image of those Gaussians, in image units.
    rms : float or numpy.ndarray
        The noise rms, a number or an ``(H, W)`` map, in image units.

    Returns
    -------
    numpy.ndarray of int
        ``(N,)`` entry numbers, 0 to the number of entries - 1, in the order of first
        appearance. Gaussians of one source that share an island share an entry; a
        lone Gaussian, or one whose centre is below the island threshold, has its own.
    """
    from scipy import ndimage

    source = parts["source"]
    entry = np.arange(len(source))
    h, w = shape
    for s in np.flatnonzero(np.bincount(source) > 1):
        members = np.flatnonzero(source == s)
        islands, _ = ndimage.label(model(members) >= ISLAND_SNR * rms,
                                   structure=np.ones((3, 3), dtype=bool))
        col = np.clip(parts["x"][members].astype(int), 0, w - 1)
        row = np.clip(parts["y"][members].astype(int), 0, h - 1)
        on = islands[row, col]
        for label in np.unique(on[on > 0]):
            entry[members[on == label]] = members[on == label][0]
    return np.unique(entry, return_inverse=True)[1]
