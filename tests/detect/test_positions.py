"""Position-matched scores: recall of reference positions and false detections."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from astrofm.detect.positions import match_positions, position_metrics
from astrofm.errors import ConfigError


def test_two_detections_of_one_source_are_one_true_and_one_false():
    reference = [[0.0, 0.0], [10.0, 0.0]]
    # Two detections near the first source; one exactly at the radius of the second.
    detected = [[1.0, 0.0], [0.5, 0.0], [10.0, 3.0]]
    found, true = match_positions(detected, reference, 3.0)
    assert found.tolist() == [True, True]
    assert sorted(true.tolist()) == [False, True, True]
    assert not (true[0] and true[1])  # only one of the pair claims the source
    assert true[2]  # separation 3.0 = radius: a match


def test_just_beyond_the_radius_is_no_match():
    found, true = match_positions([[10.0, 3.001]], [[10.0, 0.0]], 3.0)
    assert found.tolist() == [False] and true.tolist() == [False]


def test_as_many_sources_as_possible_are_recovered():
    # d1 at (2, 0) is 2 px from both A and B; d2 at (-1, 0) is 1 px from A only.
    # Giving A its nearest detection first would leave B unmatched.
    found, true = match_positions([[2.0, 0.0], [-1.0, 0.0]], [[0.0, 0.0], [4.0, 0.0]], 2.5)
    assert found.tolist() == [True, True] and true.tolist() == [True, True]


def test_sky_positions_match_within_an_angle():
    centre = SkyCoord(150.0 * u.deg, 2.0 * u.deg)
    reference = SkyCoord([centre, centre.directional_offset_by(0 * u.deg, 60 * u.arcsec)])
    detected = SkyCoord([centre.directional_offset_by(90 * u.deg, 5 * u.arcsec),
                         centre.directional_offset_by(0 * u.deg, 66 * u.arcsec)])
    found, true = match_positions(detected, reference, 5.4 * u.arcsec)
    assert found.tolist() == [True, False] and true.tolist() == [True, False]


def test_metrics_count_per_image_and_use_catalogue_centres():
    from astrofm.detect.catalog import make_catalog

    # Box centres (edge convention) 10.5, 10.5 and 30.5, 20.5: pixels (10, 10), (30, 20).
    table = make_catalog([[8.5, 8.5, 12.5, 12.5], [28.5, 18.5, 32.5, 22.5]], [0.9, 0.2],
                         [1, 1], ["source"])
    references = [np.array([[10.0, 10.0], [50.0, 50.0]]), np.array([[5.0, 5.0]])]
    detections = [table, np.zeros((0, 2))]
    report = position_metrics(detections, references, radius=0.1)
    # Image 1: (10, 10) found, (50, 50) missed, (30, 20) false; image 2: (5, 5) missed.
    assert (report.found, report.false, report.n_reference, report.n_detected) == (1, 1, 3, 2)
    assert report.recall == pytest.approx(1 / 3)
    assert report.false_per_image == pytest.approx(0.5)
    assert report.precision == pytest.approx(0.5)
    cut = position_metrics(detections, references, radius=0.1, min_score=0.5)
    assert (cut.found, cut.false, cut.n_detected) == (1, 0, 1)


@pytest.mark.parametrize("radius", [0.0, -1.0, 3 * u.arcsec])
def test_pixel_radius_must_be_positive_pixels(radius):
    with pytest.raises(ConfigError, match="radius"):
        match_positions([[0.0, 0.0]], [[0.0, 0.0]], radius)


def test_sky_references_need_an_angle_and_sky_detections():
    reference = SkyCoord([150.0] * u.deg, [2.0] * u.deg)
    with pytest.raises(ConfigError, match="radius"):
        match_positions(reference, reference, 3.0)
    with pytest.raises(ConfigError, match="SkyCoord"):
        match_positions([[0.0, 0.0]], reference, 3 * u.arcsec)


def test_one_detection_list_per_reference_list():
    with pytest.raises(ConfigError, match="same order"):
        position_metrics([np.zeros((0, 2))], [np.zeros((0, 2))] * 2, radius=1.0)
