"""Source detection: Faster R-CNN on any backbone, and catalogues from survey mosaics.

::

    import astrofm

    det = astrofm.Detector("resnet18", tuning="full")
    det.fit("train.json")                          # COCO JSON; scale and anchors measured
    report = det.evaluate("test.json")             # mAP at IoU 0.1 ... 0.9, P/R/F1
    catalog = det.detect("mosaic.fits", tile=512, output="sources.ecsv", regions="sources.reg")
    det.detect(["a.fits", "b.fits", "c.fits"], output="survey.ecsv", devices=2)  # 2 processes
    det.save("finder.astrofm"); astrofm.load("finder.astrofm")

Modules: :mod:`~astrofm.detect.anchors` (input scale, anchors),
:mod:`~astrofm.detect.augment` (training augmentation),
:mod:`~astrofm.detect.pyramid` (FPN, simple feature pyramid), :mod:`~astrofm.detect.model`
(the torchvision network), :mod:`~astrofm.detect.training` (how ``fit`` trains),
:mod:`~astrofm.detect.module` (Lightning training),
:mod:`~astrofm.detect.tiling` (mosaics), :mod:`~astrofm.detect.survey` (many mosaics over
many processes), :mod:`~astrofm.detect.snr` (peak S/N of detections, one detection per peak),
:mod:`~astrofm.detect.shapes` (boxes sized by a fitted Gaussian),
:mod:`~astrofm.detect.domain` (training-field statistics and the domain warning),
:mod:`~astrofm.detect.calibrate` (scores calibrated to purity),
:mod:`~astrofm.detect.catalog` (tables, regions, COCO, catalogue-to-box conversion),
:mod:`~astrofm.detect.catalog_coco` (training sets from a catalogue),
:mod:`~astrofm.detect.metrics`, :mod:`~astrofm.detect.plots`,
:mod:`~astrofm.detect.simulate` (generated radio fields),
:mod:`~astrofm.detect.compound` (sources of several Gaussians in one island),
:mod:`~astrofm.detect.simulate_like` and :mod:`~astrofm.detect.target` (fields matched
to a real image) and :mod:`~astrofm.detect.radio_galaxies` (simulated radio galaxies in
RGZ classes).

Scores next to a classical finder and against catalogues of positions:
:mod:`~astrofm.detect.baseline` (photutils segmentation with deblending) and
:mod:`~astrofm.detect.positions` (recall within a radius, false detections).
"""

from astrofm.detect.anchors import BoxPrior, box_prior
from astrofm.detect.augment import DetectionAugment
from astrofm.detect.baseline import segmentation_catalog
from astrofm.detect.catalog import (
    catalog_to_boxes,
    ellipse_boxes,
    make_catalog,
    write_catalog,
    write_coco,
    write_regions,
)
from astrofm.detect.catalog_coco import catalog_to_coco
from astrofm.detect.detector import Detector
from astrofm.detect.metrics import IOU_STEPS, DetectionReport, detection_metrics
from astrofm.detect.positions import PositionReport, match_positions, position_metrics
from astrofm.detect.radio_galaxies import (
    RGZ_KINDS,
    rgz_label,
    simulate_radio_galaxy,
    write_radio_galaxies,
)
from astrofm.detect.simulate import simulate_field, write_simulated
from astrofm.detect.simulate_like import simulate_like, write_simulated_like
from astrofm.detect.target import TargetStats, measure_target

__all__ = [
    "Detector",
    "DetectionAugment",
    "BoxPrior",
    "box_prior",
    "DetectionReport",
    "detection_metrics",
    "IOU_STEPS",
    "segmentation_catalog",
    "PositionReport",
    "match_positions",
    "position_metrics",
    "catalog_to_boxes",
    "catalog_to_coco",
    "ellipse_boxes",
    "make_catalog",
    "write_catalog",
    "write_coco",
    "write_regions",
    "simulate_field",
    "write_simulated",
    "simulate_like",
    "write_simulated_like",
    "measure_target",
    "TargetStats",
    "RGZ_KINDS",
    "rgz_label",
    "simulate_radio_galaxy",
    "write_radio_galaxies",
]
