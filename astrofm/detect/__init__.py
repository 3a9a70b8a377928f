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

from importlib import import_module

#: Public names and the module that defines each. They are imported on first use, so
#: that the command line can check its arguments (with :mod:`~astrofm.detect.snr` or
#: :mod:`~astrofm.detect.catalog`) before torch, torchvision and Lightning load.
_LAZY = {
    "Detector": "detector",
    "DetectionAugment": "augment",
    "BoxPrior": "anchors",
    "box_prior": "anchors",
    "DetectionReport": "metrics",
    "detection_metrics": "metrics",
    "IOU_STEPS": "metrics",
    "segmentation_catalog": "baseline",
    "PositionReport": "positions",
    "match_positions": "positions",
    "position_metrics": "positions",
    "catalog_to_boxes": "catalog",
    "catalog_to_coco": "catalog_coco",
    "ellipse_boxes": "catalog",
    "make_catalog": "catalog",
    "write_catalog": "catalog",
    "write_coco": "catalog",
    "write_regions": "catalog",
    "simulate_field": "simulate",
    "write_simulated": "simulate",
    "simulate_like": "simulate_like",
    "write_simulated_like": "simulate_like",
    "measure_target": "target",
    "TargetStats": "target",
    "RGZ_KINDS": "radio_galaxies",
    "rgz_label": "radio_galaxies",
    "simulate_radio_galaxy": "radio_galaxies",
    "write_radio_galaxies": "radio_galaxies",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'astrofm.detect' has no attribute {name!r}")
    value = getattr(import_module(f"astrofm.detect.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_LAZY])
