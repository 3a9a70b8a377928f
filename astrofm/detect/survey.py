"""Detection over a list of mosaics, in one process or spread over many.

:meth:`Detector.detect <astrofm.detect.Detector.detect>` runs here, through Lightning's
``Trainer.predict``, so one call runs on a CPU, a GPU or several processes on several
nodes (``devices``, ``num_nodes``, ``strategy``) under ``torchrun``, SLURM or Lightning's
own launcher. An item of the data set is a whole mosaic, tiled inside ``predict_step``
(:mod:`astrofm.detect.tiling`), so a mosaic is read by one process, through its memory
map, a batch of tiles at a time. Lightning gives process ``r`` of ``n`` the mosaics
``r, r + n, r + 2n ...``, without repeats.

Each mosaic's catalogue is written atomically as a *part* (ECSV) in a folder beside the
output, recording the mosaic, the detection settings and a digest of the network. After
every process has finished, global rank 0 merges the parts once into the catalogue (and
the DS9 regions), then removes them. A rerun after a failure skips every mosaic whose
part is already there for the same settings and network (resume).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from astropy.table import Table

from astrofm.errors import ConfigError

__all__ = ["MosaicSet", "MosaicPredictor", "detect_mosaics", "merge_catalogs", "parts_folder",
           "predict_images", "run_tiled", "snr_filter", "catalog_of"]


class MosaicSet:
    """The mosaics of a run as a map-style data set whose items are their positions."""

    def __init__(self, count: int):
        self.count = int(count)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return int(index)


def parts_folder(output) -> Path:
    """The folder of the per-mosaic parts of the catalogue ``output`` (beside it, hidden)."""
    output = Path(output)
    return output.with_name(f".{output.name}.parts")


def _input_key(source):
    """What identifies an input across runs: its path; None for data held in memory."""
    return os.path.abspath(source) if isinstance(source, str | os.PathLike) else None


def _calibration_digest(calibration):
    """What identifies a score calibration across runs (None without one)."""
    import hashlib
    import json

    if calibration is None:
        return None
    return hashlib.sha256(json.dumps(calibration.to_dict()).encode()).hexdigest()[:16]


class MosaicPredictor(pl.LightningModule):
    """Lightning's view of a detector that catalogues whole mosaics, one part each.

    Parameters
    ----------
    detector : Detector
        A fitted detector; its network moves to the process's device.
    sources : list
        The inputs, as :meth:`Detector.detect` takes them.
    parts : path
        Where each mosaic's catalogue goes, as ``<position>.ecsv``.
    options : dict
        ``tile``, ``overlap``, ``score_threshold``, ``min_snr``, ``batch_size``,
        ``hdu``, ``plane``, ``min_valid`` and ``progress`` of :meth:`Detector.detect`.
    shared : bool
        Whether every process of the job can see ``parts`` (False for a temporary
        folder, which then allows one process only).
    """

    def __init__(self, detector, sources, parts, options: dict, *, shared: bool = True):
        from astrofm.features.fingerprint import backbone_digest

        super().__init__()
        self.network = detector.network
        self.detector, self.sources, self.parts = detector, list(sources), Path(parts)
        self.options, self.shared = dict(options), shared
        settings = {k: v for k, v in options.items() if k not in ("batch_size", "progress")}
        self.stamp = {**settings, "plane": None if settings["plane"] is None
                      else list(settings["plane"]), "network": backbone_digest(self.network),
                      "calibration": _calibration_digest(detector.calibration)}

    def setup(self, stage):
        if self.trainer.world_size > 1 and not self.shared:
            raise ConfigError(f"output=None: {self.trainer.world_size} processes write their "
                              "catalogues to files they all see; give output= a catalogue "
                              "path on a shared file system.")

    def part(self, index: int) -> Path:
        """The part file of mosaic ``index``."""
        return self.parts / f"{index:06d}.ecsv"

    def done(self, index: int) -> bool:
        """Whether mosaic ``index`` has a part from the same input, settings and network."""
        path, key = self.part(index), _input_key(self.sources[index])
        if key is None or not path.is_file():
            return False
        meta = Table.read(path, format="ascii.ecsv").meta.get("part", {})
        return meta == {"input": key, **self.stamp}

    def predict_step(self, batch, batch_idx):
        from astrofm.features.store import atomic_path

        for index in batch:
            if self.done(index):
                continue
            table = catalog_of(self.detector, self.sources[index], self.options)
            table.meta["part"] = {"input": _input_key(self.sources[index]), **self.stamp}
            with atomic_path(self.part(index)) as tmp:
                table.write(tmp, format="ascii.ecsv")
        # The positions done, so that Lightning sees the step returned on purpose.
        return batch


def predict_images(detector, images) -> list:
    """``(boxes, scores, labels)`` of each AstroImage, boxes in its pixels as loaded."""
    import torch

    from astrofm.data import image_to_tensor

    device = next(detector.network.parameters()).device
    processed = detector.preprocessing(list(images))
    with torch.inference_mode():
        outputs = detector.network([image_to_tensor(p).to(device) for p in processed])
    results = []
    for image, out in zip(processed, outputs, strict=True):
        boxes = out["boxes"].float().cpu().numpy()
        boxes = image.to_original(boxes) if len(boxes) else boxes.reshape(0, 4)
        scores = out["scores"].float().cpu().numpy()
        results.append((boxes, scores, out["labels"].cpu().numpy()))
    return results


def run_tiled(detector, source, *, tile, overlap, batch_size, hdu, plane, min_valid,
              progress, snr: bool = False, fit_boxes: bool = False, min_snr=None, stats=None):
    """Detections of one image in its pixels, its reader, and the tiling information.

    The detections are ``(boxes, scores, labels, measured)``: ``measured`` holds the
    columns of :class:`~astrofm.detect.snr.PeakSNR` when ``snr`` is true, and is empty
    otherwise. With ``snr``, each peak pixel keeps only its best-scored detection
    (:func:`~astrofm.detect.snr.one_per_peak`); with ``fit_boxes`` as well, a box is
    the fitted Gaussian's where the fit is plausible (:mod:`astrofm.detect.shapes`),
    for the detections at ``min_snr`` or above.
    Each tile read is also added to ``stats`` (a
    :class:`~astrofm.detect.domain.FieldStats`) when one is given.
    """
    from astrofm.detect.snr import FITTED_BOX, PeakSNR, one_per_peak
    from astrofm.detect.tiling import MosaicReader, auto_tile, check_tile, detect_tiled

    overlap = detector.default_overlap if overlap is None else int(overlap)
    detector.network.eval()
    reader = MosaicReader(source, hdu=hdu, plane=plane)
    if tile == "auto":
        tile = auto_tile(reader.shape, detector.prior.scale, overlap, detector.min_tile)
    if tile is None:
        tile, overlap = max(reader.shape), 0
    else:
        check_tile(int(tile), overlap, detector.min_tile)
    peak_snr = (PeakSNR(detector.prior.largest, fit_boxes=fit_boxes, fit_snr=min_snr)
                if snr else None)

    def measure(image, boxes):
        # Measured while the tile is in memory: a mosaic is read once, tile by tile.
        if stats is not None:
            stats.add(image.data, image.mask)
        return {} if peak_snr is None else peak_snr(image, boxes)

    boxes, scores, labels, measured, info = detect_tiled(
        reader, detector._predict, tile=int(tile), overlap=overlap, batch_size=batch_size,
        nms_iou=detector.network_options["nms_iou"], min_valid=min_valid, progress=progress,
        measure=measure)
    keep = one_per_peak(scores, measured)
    measured = {name: values[keep] for name, values in measured.items()}
    boxes = boxes[keep]
    if FITTED_BOX[0] in measured:
        fitted = np.stack([measured.pop(name) for name in FITTED_BOX], -1)
        boxes = np.where(np.isfinite(fitted).all(axis=1, keepdims=True), fitted, boxes)
    found = (boxes, scores[keep], labels[keep], measured)
    return found, reader, {"tile": int(tile), "overlap": overlap, **info}


def labelled_detections(detector, data, *, min_snr, tile, overlap, batch_size, progress):
    """Detections of each image of a labelled set after the S/N cut, with its true boxes.

    The one pass over a data set with boxes that :meth:`Detector.evaluate
    <astrofm.detect.Detector.evaluate>` and :meth:`Detector.calibrate
    <astrofm.detect.Detector.calibrate>` make: the network's raw scores, no score cut.

    Yields
    ------
    pred : dict
        ``boxes``, ``scores`` and ``labels`` (NumPy arrays) of the detections kept.
    truth : tuple
        ``(boxes, labels)`` of the image (:func:`~astrofm.detect.datasets.boxes_of`).
    """
    from astrofm.detect.datasets import boxes_of

    for i in range(len(data)):
        (boxes, scores, labels, measured), _, _ = detector._run(
            data.load(i), tile=tile, overlap=overlap, batch_size=batch_size, hdu=None,
            plane=None, min_valid=0.0, progress=progress, snr=min_snr is not None)
        keep = snr_filter(scores, measured, -np.inf, min_snr)
        yield ({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]},
               boxes_of(data, i))


def snr_filter(scores, measured: dict, score_threshold: float, min_snr) -> np.ndarray:
    """Which detections a catalogue keeps.

    Parameters
    ----------
    scores : numpy.ndarray
        Detection scores.
    measured : dict
        The detections' ``snr`` (from :class:`~astrofm.detect.snr.PeakSNR`), when
        ``min_snr`` is given.
    score_threshold : float
        Lowest score kept.
    min_snr : float or None
        Lowest peak S/N kept (a NaN S/N never passes); None applies no S/N cut.

    Returns
    -------
    numpy.ndarray of bool
    """
    keep = np.asarray(scores) >= score_threshold
    if min_snr is not None:
        keep &= np.asarray(measured.get("snr", np.zeros(len(keep)))) >= min_snr
    return keep


def catalog_of(detector, source, options: dict) -> Table:
    """The catalogue of one image (see :meth:`Detector.detect`).

    The image's :class:`~astrofm.detect.domain.FieldStats` go in ``meta["field"]``, and a
    :class:`~astrofm.errors.DomainWarning` is raised when they lie far outside
    the detector's training fields.
    """
    from astrofm.detect.catalog import make_catalog
    from astrofm.detect.domain import FieldStats, check_field
    from astrofm.detect.snr import SNR_COLUMNS

    threshold, min_snr = options["score_threshold"], options["min_snr"]
    measure = min_snr is not None or options["fit_boxes"]  # both need the noise maps
    stats = FieldStats()
    (boxes, scores, labels, measured), reader, info = detector._run(
        source, **{k: options[k] for k in ("tile", "overlap", "batch_size", "hdu", "plane",
                                            "min_valid", "progress", "fit_boxes",
                                            "min_snr")},
        snr=measure, stats=stats)
    field = stats.result(reader.header, reader.wcs)
    check_field(reader.name, field, detector.history.get("fields", {}))
    columns = {}
    if detector.calibration is not None:
        columns["raw_score"] = scores
        scores = detector.calibration(scores)
    keep = snr_filter(scores, measured, threshold, min_snr)
    columns = {name: values[keep] for name, values in columns.items()}
    if measure:
        unit = reader.unit or 1
        columns.update({name: measured.get(name, np.zeros(len(keep)))[keep]
                        for name in SNR_COLUMNS})
        columns["peak"], columns["rms"] = columns["peak"] * unit, columns["rms"] * unit
    info.update(shape=list(reader.shape), score_threshold=float(threshold),
                min_snr=min_snr, fit_boxes=options["fit_boxes"], field=field,
                calibrated=detector.calibration is not None)
    return make_catalog(boxes[keep], scores[keep], labels[keep], detector.classes,
                        wcs=reader.wcs, source=reader.name, meta=info, columns=columns)


def merge_catalogs(tables) -> Table:
    """One catalogue of several images' catalogues, in the order given.

    A single catalogue comes back as it is. Several gain an ``image`` column (the
    source of each row), are stacked (``ra``/``dec`` masked for images without a WCS)
    and numbered again from 1; ``meta["images"]`` keeps each image's tiling, shape
    and source.
    """
    from astropy.table import vstack

    tables = list(tables)
    if len(tables) == 1:
        return tables[0]
    marked = []
    for table in tables:
        table = table.copy(copy_data=False)
        table.add_column([table.meta.get("source", "")] * len(table), name="image", index=1)
        marked.append(table)
    with warnings.catch_warnings():
        # Each table's meta differs (source, shape, WCS); the merged meta is set below.
        warnings.filterwarnings("ignore", ".*merging.*", category=Warning)
        merged = vstack(marked, join_type="outer", metadata_conflicts="silent")
    merged["id"] = range(1, len(merged) + 1)
    first = tables[0].meta
    merged.meta = {"box_convention": first["box_convention"], "classes": first["classes"],
                   "score_threshold": first.get("score_threshold"),
                   "min_snr": first.get("min_snr"),
                   "images": [{k: v for k, v in t.meta.items() if k not in
                               ("wcs", "box_convention", "classes", "part")} for t in tables]}
    return merged


def _check_regions(sources, options, regions):
    """Several images share one region file on the sky only: each needs a WCS."""
    from astrofm.detect.tiling import MosaicReader

    if regions is None or len(sources) < 2:
        return
    for source in sources:
        reader = MosaicReader(source, hdu=options["hdu"], plane=options["plane"])
        if reader.wcs is None:
            raise ConfigError(f"regions={regions}: {reader.name} has no celestial WCS, so "
                              "its boxes cannot join the other images' in one sky region "
                              "file; leave regions= out or detect in it alone.")


def detect_mosaics(detector, sources, options: dict, *, output=None, regions=None,
                   placement: dict) -> list:
    """Catalogue every image of ``sources``; see :meth:`Detector.detect`.

    Every process of the job returns the same catalogues, in the order of ``sources``.
    """
    from torch.utils.data import DataLoader

    from astrofm.detect.catalog import region_shapes, write_catalog, write_shapes
    from astrofm.trainer import barrier, is_global_zero, make_trainer

    # Regions of several images go on the sky, from each image's own WCS.
    region_files = [p for p in (regions, output) if p is not None and (
        p is regions or Path(p).suffix.lower() == ".reg")]
    for path in region_files:
        _check_regions(sources, options, path)
    with tempfile.TemporaryDirectory(prefix="astrofm-detect-") as scratch:
        parts = parts_folder(output) if output is not None else Path(scratch)
        module = MosaicPredictor(detector, sources, parts, options, shared=output is not None)
        trainer = make_trainer(**placement, progress=False)
        loader = DataLoader(MosaicSet(len(sources)), batch_size=1, collate_fn=list)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            trainer.predict(module, loader, return_predictions=False)
        detector.network.cpu().eval()
        barrier(trainer, "astrofm-detect-parts")
        tables = [Table.read(module.part(i), format="ascii.ecsv")
                  for i in range(len(sources))]
        for table in tables:
            del table.meta["part"]
        # Every process has read the parts before rank 0 merges and removes them.
        barrier(trainer, "astrofm-detect-read")
        if is_global_zero(trainer):
            if output is not None:
                if output not in region_files:
                    write_catalog(merge_catalogs(tables), output)
                shutil.rmtree(parts)
            for path in region_files:
                write_shapes([s for t in tables for s in region_shapes(t)], path)
        barrier(trainer, "astrofm-detect-merged")
    return tables
