"""``astrofm.Detector``: Faster R-CNN source finding on any backbone, from training to catalogue."""

from __future__ import annotations

import math
import os
from pathlib import Path

from astrofm.backbones.weights import RANDOM
from astrofm.detect.anchors import GRID_STRIDE, BoxPrior, check_anchors, check_number
from astrofm.detect.datasets import detection_set
from astrofm.detect.model import (
    MIN_INPUT,
    build_faster_rcnn,
    check_network_options,
    detection_backbone,
)
from astrofm.errors import ConfigError, TrainingError

__all__ = ["Detector"]


class Detector:
    """A source detector: torchvision's Faster R-CNN on an astrofm backbone.

    CNN backbones get torchvision's FPN over their stages; ViT backbones ViTDet's
    simple feature pyramid (see :mod:`astrofm.detect.pyramid`). Unless fixed here, the
    input scale and the anchors are measured from the training boxes by :meth:`fit`
    (see :mod:`astrofm.detect.anchors`); the preprocessing is astrofm's default for the
    backbone with that scale, and is saved with the model so inference repeats it.

    Parameters
    ----------
    model : str or Backbone
        A backbone name (``astrofm.backbones.list()``) or a built backbone.
    tuning : {"frozen", "lora", "partial", "full"}
        What of the backbone trains (:func:`astrofm.tuning.apply_tuning`); the
        pyramid and the heads always train.
    weights : "pretrained", path, None or "random"
        Backbone weights for a name: the published ones by default; None or
        ``"random"`` for a random initialisation (tests, baselines from scratch), which
        is recorded in saved detectors and reports.
    backbone_options : dict, optional
        Builder options of the backbone (``depth``, ``embed_dim`` ...).
    classes : sequence of str, optional
        Object classes, in the order of the COCO categories; by default those of the
        training set (``["source"]`` for a detector built before any data).
    min_patches : int
        Patches of 16 px a median training source should span after scaling.
    input_scale : float, optional
        A fixed upsampling factor (at least 1) instead of the measured one.
    anchor_sizes, aspect_ratios : sequence of float, optional
        Fixed anchors (pixels of the scaled input) and ratios ``h / w``. With both
        ``input_scale`` and ``anchor_sizes`` the network is built at once and can
        detect (untrained) or train without measuring.
    replace_steps : dict, optional
        Preprocessing steps to swap by class name, as in
        :func:`astrofm.features.default_preprocessing` (the resize is the detector's).
    tuning_options : dict, optional
        More :func:`~astrofm.tuning.apply_tuning` arguments (``lora_rank``, ``blocks``).
    out_channels, representation_size, min_score, nms_iou, max_detections : optional
        Network settings; see :func:`astrofm.detect.model.build_faster_rcnn`.
    **rcnn_options
        Further torchvision ``FasterRCNN`` arguments.
    """

    def __init__(self, model="resnet18", tuning="frozen", *, weights="pretrained",
                 backbone_options=None, classes=None, min_patches=1, input_scale=None,
                 anchor_sizes=None, aspect_ratios=None, replace_steps=None, tuning_options=None,
                 out_channels=256,
                 representation_size=1024, min_score=0.05, nms_iou=0.5, max_detections=300,
                 **rcnn_options):
        from astrofm.tuning import apply_tuning

        # Checked before the backbone is built, so a bad value costs no weights download.
        min_patches = check_number("min_patches", min_patches, low=1, low_inclusive=True,
                                   integer=True)
        if input_scale is not None:
            input_scale = check_number("input_scale", input_scale, low=1, low_inclusive=True,
                                       hint="; the detector upsamples small sources")
        anchor_sizes, aspect_ratios = check_anchors(anchor_sizes, aspect_ratios)
        network_options = check_network_options(
            out_channels=out_channels, representation_size=representation_size,
            min_score=min_score, nms_iou=nms_iou, max_detections=max_detections)
        self._own_classes = classes is None
        self.classes = ["source"] if classes is None else [str(c) for c in classes]
        if not self.classes:
            raise ConfigError("classes=(): give at least one class name, e.g. ('source',).")
        self.replace_steps = dict(replace_steps or {})
        if "ResizeForPatch" in self.replace_steps:
            raise ConfigError("replace_steps: the detector sets ResizeForPatch itself from the "
                              "input scale; pass input_scale= instead.")
        self.backbone_options = dict(backbone_options or {})
        self.name, self.backbone = detection_backbone(model, weights, self.backbone_options)
        self.weights = None if weights in (None, RANDOM) else os.fspath(weights)
        self.tuning, self.tuning_options = tuning, dict(tuning_options or {})
        self.tuning_report = apply_tuning(self.backbone, tuning, **self.tuning_options)
        self.min_patches = min_patches
        self._fixed = {"scale": input_scale, "anchor_sizes": anchor_sizes,
                       "aspect_ratios": aspect_ratios}
        self.network_options = {**network_options, **rcnn_options}
        self.prior = self.preprocessing = self.network = self.calibration = None
        self.history = {}
        if input_scale is not None and anchor_sizes is not None:
            ratios = aspect_ratios or (0.5, 1.0, 2.0)
            self._build(BoxPrior(GRID_STRIDE / input_scale, input_scale, anchor_sizes, ratios,
                                 max(anchor_sizes) / input_scale))

    # ---------------------------------------------------------------- building
    def _default_preprocessing(self, prior):
        from astrofm.features.adapt import default_preprocessing
        from astrofm.preprocess import ResizeForPatch

        # ResizeForPatch scales by N p / s: with N = 1, p = 16 and s = 16 / scale the
        # factor is the prior's, and sides round to whole 16 px cells.
        resize = ResizeForPatch(GRID_STRIDE, min_patches_per_source=1,
                                source_size=GRID_STRIDE / prior.scale)
        return default_preprocessing(self.backbone.spec,
                                     replace={**self.replace_steps, "ResizeForPatch": resize})

    def _build(self, prior, preprocessing=None):
        self.prior = prior
        self.preprocessing = preprocessing or self._default_preprocessing(prior)
        self.network = build_faster_rcnn(self.backbone, len(self.classes), prior,
                                         **self.network_options)
        self.network.eval()

    def _require_network(self, what):
        if self.network is None:
            raise TrainingError(f"{what}: the detector has not been fitted; call fit(train, val) "
                                "first, or load a saved one with astrofm.load('x.astrofm').")

    @property
    def min_tile(self) -> int:
        """Smallest tile side (original pixels) the network takes after scaling."""
        self._require_network("min_tile")
        return math.ceil(MIN_INPUT / self.prior.scale)

    @property
    def default_overlap(self) -> int:
        """Tile overlap covering the largest training source, so tiles see sources whole."""
        self._require_network("default_overlap")
        return math.ceil(1.25 * self.prior.largest)

    def to(self, device):
        """Move the network to ``device`` (``"cuda"``, ``"cpu"``); returns self."""
        from astrofm.runtime import check_torch_device

        self._require_network("to")
        self.network.to(check_torch_device(device))
        return self

    # ---------------------------------------------------------------- training
    def fit(self, train, val=None, *, epochs: int = 10, batch_size: int = 4, lr: float = 1e-4,
            weight_decay: float = 1e-4, layer_decay=None, warmup: float = 0.1,
            val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0, device="auto",
            devices="auto", num_nodes: int = 1, strategy="auto", precision=None,
            checkpoint_dir=None, resume: bool = False, progress: bool = True,
            max_steps: int = -1, val_every: int = 1, augment=True):
        """Train on a COCO data set; the epoch with the best validation mAP@0.5 is kept.

        Parameters
        ----------
        train : str, path or CocoDataset
            Training images and boxes (a COCO JSON file or a data set).
        val : str, path or CocoDataset, optional
            Validation set for model selection; by default ``val_fraction`` of
            ``train`` (never the test set).
        epochs, batch_size, lr, weight_decay, layer_decay, warmup : optional
            Schedule: AdamW with a one-cycle learning rate (see
            :class:`~astrofm.detect.module.DetectionModule`).
        seed : int
            Seeds the split, the shuffling and the new layers' initialisation.
        num_workers : int
            DataLoader worker processes.
        device, devices, num_nodes, strategy : optional
            Lightning's ``accelerator``, ``devices``, ``num_nodes`` and ``strategy``:
            ``devices=2, strategy="ddp"`` trains in two processes (under ``torchrun``,
            SLURM or Lightning's own launcher), each on its share of every batch, so
            the effective batch is ``batch_size`` times the number of processes.
            Validation mAP@0.5 is computed over the whole validation set, every
            process ends with the same weights, and only global rank 0 writes.
        precision : str, optional
            Lightning's precision (default: mixed on GPUs).
        checkpoint_dir : str or path, optional
            Where checkpoints go (default: a temporary folder, removed afterwards);
            with several nodes give a folder on a file system they share.
        resume : bool
            Continue from ``checkpoint_dir/last.ckpt`` when it exists.
        progress : bool
            Show Lightning's progress bar.
        max_steps : int
            Stop after this many optimiser steps (-1: run all epochs). When training
            stops before any validation, the last weights are kept.
        val_every : int
            Validate every this many epochs.
        augment : bool or DetectionAugment
            Random views of the training images, boxes moved exactly (flips, 90-degree
            rotations, jitter, blur, contrast, noise, background and PSF variation; see
            :mod:`astrofm.detect.augment`): the defaults with True, none with False.
            Validation images are never augmented.

        Returns
        -------
        Detector
            ``self``, trained; ``history`` holds the epochs, the best validation mAP@0.5,
            the training time, the augmentation's settings (``augment``) and, in
            ``"fields"``, the training images' statistics that :meth:`detect` checks
            images against (see :mod:`astrofm.detect.domain`).
        """
        from astrofm.detect.training import fit_detector

        fit_detector(self, train, val, epochs=epochs, batch_size=batch_size, lr=lr,
                     weight_decay=weight_decay, layer_decay=layer_decay, warmup=warmup,
                     val_fraction=val_fraction, seed=seed, num_workers=num_workers,
                     device=device, devices=devices, num_nodes=num_nodes, strategy=strategy,
                     precision=precision, checkpoint_dir=checkpoint_dir, resume=resume,
                     progress=progress, max_steps=max_steps, val_every=val_every,
                     augment=augment)
        return self

    def calibrate(self, fields, *, min_snr: float | None = 5.0, iou_threshold: float = 0.5,
                  tile=None, overlap=None, batch_size: int = 2, progress: bool = False):
        """Calibrate the scores to purity on held-out fields (isotonic regression).

        Afterwards :meth:`detect` writes the purity of each detection as ``score`` (the
        network's as ``raw_score``), so ``score_threshold`` becomes a purity; saved
        with the detector, and cleared by :meth:`fit`. See :mod:`astrofm.detect.calibrate`.

        Parameters
        ----------
        fields : str, path or CocoDataset
            Images with every source boxed, not used in training: generated fields
            like the training set, or better, fields matched to the survey.
        min_snr : float or None
            Fit on the detections with at least this peak S/N, as :meth:`detect` keeps.
        iou_threshold : float
            Least IoU with a true box for a detection to count as real.
        tile, overlap, batch_size, progress : optional
            As for :meth:`evaluate`.

        Returns
        -------
        Detector
            ``self``; ``calibration`` holds the fitted
            :class:`~astrofm.detect.calibrate.ScoreCalibration`.
        """
        from astrofm.detect.anchors import check_number
        from astrofm.detect.calibrate import fit_calibration
        from astrofm.detect.snr import check_min_snr

        self._require_network("calibrate")
        self.calibration = fit_calibration(
            self, fields, min_snr=check_min_snr(min_snr),
            iou_threshold=check_number("iou_threshold", iou_threshold, high=1), tile=tile,
            overlap=overlap, batch_size=batch_size, progress=progress)
        return self

    # --------------------------------------------------------------- inference
    def _predict(self, images):
        """Detections of AstroImages, in the pixels of the images as loaded."""
        from astrofm.detect.survey import predict_images

        return predict_images(self, images)

    def _run(self, source, **options):
        """Detections of one image in its pixels, its reader and the tiling information."""
        from astrofm.detect.survey import run_tiled

        return run_tiled(self, source, **options)

    def detect(self, inputs, *, tile="auto", overlap=None, score_threshold: float = 0.5,
               min_snr: float | None = 5.0, fit_boxes: bool = True, batch_size: int = 2,
               hdu=None, plane=None, min_valid: float = 0.02, progress: bool = True,
               output=None, regions=None, device="auto", devices=1, num_nodes: int = 1,
               strategy="auto"):
        """Find sources in images of any size; a catalogue per image, one merged file.

        The images are shared out over the processes of the job (see
        :mod:`astrofm.detect.survey`): one image, or one process, is a job of one.

        Parameters
        ----------
        inputs : path, AstroImage, array ... or a list of them
            What :func:`astrofm.load` takes. FITS files are read tile by tile through
            a memory map, so a mosaic need not fit in memory.
        tile : int, None or "auto"
            Tile side in original pixels; None runs on the whole image; ``"auto"``
            tiles images too large to run whole.
        overlap : int, optional
            Tile overlap in pixels; default :attr:`default_overlap`.
        score_threshold : float
            Detections scoring lower are left out of the catalogue.
        min_snr : float or None
            Lowest peak S/N kept, measured on the image against the local rms (see
            :mod:`astrofm.detect.snr`; columns ``peak``, ``rms``, ``snr``); 5 is
            PyBDSF's ``thresh_pix``; None applies no S/N cut. A detection needs both cuts.
            They do different work: the S/N cut drops the noise peaks an uncalibrated
            score lets through, but only the score can tell a sidelobe or artefact
            above 5 sigma from a source, so ``score_threshold`` keeps its 0.5: lowering
            it trades artefacts for faint sources, best set from a survey's own
            precision and recall.
        fit_boxes : bool
            Box each source as a catalogue does, from a Gaussian fitted to its pixels
            (:mod:`astrofm.detect.shapes`), where the fit is plausible; False keeps
            the network's boxes. With neither this nor ``min_snr``, nothing is
            measured on the image (no ``peak``, ``rms``, ``snr`` columns).
        batch_size : int
            Tiles per forward pass.
        hdu, plane : optional
            As for :func:`astrofm.load`.
        min_valid : float
            Tiles with a smaller share of valid (finite, unmasked) pixels are skipped.
        progress : bool
            Show a progress bar over the tiles.
        output : str or path, optional
            Write the catalogue (``.ecsv``, ``.fits``, ``.json`` for COCO); with
            several images, one catalogue of all (see
            :func:`~astrofm.detect.survey.merge_catalogs`). Parts per image are kept
            beside it until the end, so a rerun after a failure skips the images done.
        regions : str or path, optional
            Write a DS9 region file of the boxes (on the sky for several images, which
            then each need a WCS).
        device, devices, num_nodes, strategy : optional
            Lightning's ``accelerator``, ``devices`` (one by default), ``num_nodes`` and
            ``strategy``; with several processes give ``output``, on a file system
            they all see. Global rank 0 alone writes ``output`` and ``regions``.

        Returns
        -------
        astropy.table.Table or list of Table
            See :func:`astrofm.detect.catalog.make_catalog`; ``meta`` records the tiling,
            the cuts and the image's statistics (``field``). Every process returns the
            catalogues of all the images.

        Warns
        -----
        DomainWarning
            Once per image whose dynamic range or beam in pixels lies far outside
            those of the training fields (see :mod:`astrofm.detect.domain`).
        """
        from astrofm.detect.snr import check_min_snr
        from astrofm.detect.survey import detect_mosaics
        from astrofm.detect.tiling import check_detect_options, check_tile
        from astrofm.runtime import check_loop

        self._require_network("detect")
        min_snr = check_min_snr(min_snr)
        many = isinstance(inputs, list | tuple)
        tile = check_detect_options(tile, batch_size, output, regions)
        placement = {"device": device, **check_loop(device=device, devices=devices,
                                                    num_nodes=num_nodes, strategy=strategy)}
        if isinstance(tile, int):
            check_tile(tile, self.default_overlap if overlap is None else int(overlap),
                       self.min_tile)
        options = {"tile": tile, "overlap": overlap, "score_threshold": float(score_threshold),
                   "min_snr": min_snr, "fit_boxes": bool(fit_boxes), "batch_size": batch_size,
                   "hdu": hdu,
                   "plane": None if plane is None else tuple(plane),
                   "min_valid": float(min_valid), "progress": progress}
        tables = detect_mosaics(self, list(inputs) if many else [inputs], options,
                                output=output, regions=regions, placement=placement)
        return tables if many else tables[0]

    def evaluate(self, test, *, score_threshold: float = 0.5, iou_threshold: float = 0.5,
                 min_snr: float | None = None, tile=None, overlap=None, batch_size: int = 2,
                 progress: bool = False):
        """mAP at IoU 0.1 to 0.9 and 0.5:0.95, and P/R/F1 at a threshold, on a test set.

        Boxes are compared in the original pixels of each image, so the result does
        not depend on the preprocessing. See :func:`astrofm.detect.metrics.detection_metrics`.

        Parameters
        ----------
        test : str, path or CocoDataset
            Test images with true boxes.
        score_threshold, iou_threshold : float
            Where precision, recall and F1 are counted; on the network's raw scores,
            even after :meth:`calibrate`, so that mAP keeps the network's full ranking
            (the calibration ties the scores within each of its steps).
        min_snr : float, optional
            Score only the detections with at least this peak S/N, as :meth:`detect`
            keeps them (mAP then ranks the catalogue after the S/N cut); None, the
            default, scores every detection, so mAP measures the network's ranking.
        tile, overlap, batch_size, progress : optional
            As for :meth:`detect` (default: whole images).

        Returns
        -------
        DetectionReport
        """
        from astrofm.detect.metrics import evaluate_detector
        from astrofm.detect.snr import check_min_snr

        self._require_network("evaluate")
        min_snr = check_min_snr(min_snr)
        return evaluate_detector(self, detection_set(test, "test"), min_snr=min_snr,
                                 score_threshold=score_threshold, iou_threshold=iou_threshold,
                                 tile=tile, overlap=overlap, batch_size=batch_size,
                                 progress=progress)

    # ------------------------------------------------------------- persistence
    def save(self, path) -> Path:
        """Write the detector to one ``.astrofm`` file (see :mod:`astrofm.saving`).

        The file holds the network's weights (the backbone's only when it was tuned or
        randomly initialised; a frozen pretrained backbone is rebuilt from its weights
        reference, whose digest is checked on loading), the box prior, the exact
        preprocessing, and where the backbone's weights came from.
        """
        from astrofm.detect.persist import save_detector

        return save_detector(self, path)

    @classmethod
    def from_saved(cls, config: dict, tensors: dict) -> Detector:
        """Rebuild a detector from :meth:`save`'s description and tensors.

        ``config`` has been checked by :func:`astrofm.saving.read_model`. The tensors must
        be exactly those of the rebuilt network (less the backbone's when it is rebuilt
        from its weights, whose digest must then match the one saved).
        """
        from astrofm.detect.persist import load_detector

        return load_detector(cls, config, tensors)

    def __repr__(self):
        name = self.name or self.backbone.spec.name
        if self.prior is None:
            return f"<Detector {name} ({self.tuning}), not fitted>"
        return (f"<Detector {name} ({self.tuning}), input scale {self.prior.scale:.2f}, "
                f"anchors {self.prior.anchor_sizes} px, classes {self.classes}>")

