"""Radio source detection: train on generated fields, test on a real WSRT image.

A ResNet-18 Faster R-CNN is trained from random weights on generated radio fields
(point and extended Gaussian sources at signal-to-noise ratios from 4 to 300, in
noise correlated on the scale of the beam, with exact boxes for the sources at S/N 5
and above, which a catalogue would keep; fainter ones stay unlabelled), then evaluated on the
real WSRT image of Abell 2255 against the boxes of its PyBDSF source catalogue, next to
a classical baseline: photutils image segmentation with deblending
(:func:`astrofm.detect.baseline.segmentation_catalog`), its segments ranked by peak
S/N for mAP and cut at S/N >= 5 for precision and recall. The simulations
use the real image's beam (its ``BMAJ`` in pixels), as a survey's own simulations would.

Boxes on both sides follow :mod:`astrofm.detect.catalog`'s convention: the box that
encloses the ellipse whose semi-axes are the FWHM (the ellipse PyBDSF writes to its
DS9 region files). The baseline's boxes are built the same way from the second
moments of each segment. ``examples/radio_transfer.py`` checks how the recipe transfers
to images it was not matched to.

Run from the repository root::

    python examples/radio_detection.py      # trains for about 3-12 minutes on two CPU cores

Outputs (catalogue, DS9 regions, plots, the saved detector) go to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

import astrofm
from astrofm.detect import Detector, catalog_to_boxes, detection_metrics
from astrofm.detect.baseline import segmentation_catalog
from astrofm.detect.domain import beam_pixels
from astrofm.detect.simulate import write_simulated

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pybdsf_wsrt_abell2255"
IMAGE = "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits"
CATALOGUE = "tbdsf_process_image.in_fits.pybdsf.srl.FITS"


def new_detector():
    """The example's detector: a ResNet-18 Faster R-CNN from random weights, kept small."""
    return Detector("resnet18", tuning="full", weights=None, out_channels=64,
                    representation_size=256, rpn_pre_nms_top_n_train=500,
                    rpn_post_nms_top_n_train=250,
                    rpn_batch_size_per_image=128, box_batch_size_per_image=64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("radio_detection_output"))
    parser.add_argument("--train", type=int, default=800, help="generated training fields")
    parser.add_argument("--val", type=int, default=48, help="generated validation fields")
    parser.add_argument("--size", type=int, default=48, help="side of a generated field")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    image = astrofm.load(args.data / IMAGE)
    beam = beam_pixels(image.header, image.wcs)
    truth, _ = catalog_to_boxes(Table.read(args.data / CATALOGUE), image.wcs, image.shape)
    print(f"Abell 2255 (WSRT): {image.shape[1]} x {image.shape[0]} px, beam {beam:.2f} px, "
          f"{len(truth)} catalogued sources")

    fields = {"snr": (4.0, 300.0), "beam_fwhm": beam, "shape": args.size, "n_sources": (3, 12)}
    train = write_simulated(args.out / "sims", args.train, seed=args.seed, name="train", **fields)
    val = write_simulated(args.out / "sims", args.val, seed=args.seed + 1, name="val", **fields)

    detector = new_detector()
    start = time.perf_counter()
    detector.fit(train, val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 seed=args.seed)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{detector}\ntrained in {minutes:.1f} min: {detector.history}")
    detector.save(args.out / "radio_detector.astrofm")

    catalog = detector.detect(image, tile=None, score_threshold=0.0, progress=False)
    detector.detect(image, tile=None, output=args.out / "abell2255_sources.ecsv",
                    regions=args.out / "abell2255_sources.reg", progress=False)
    target = [{"boxes": truth, "labels": np.ones(len(truth), dtype=int)}]
    reports = {"detector (ResNet-18, simulations)": detection_metrics([catalog], target),
               "photutils segmentation + deblending": detection_metrics(
                   [segmentation_catalog(image, beam_fwhm=beam, min_snr=None)], target,
                   score_threshold=5.0)}

    print("\nmAP on the real image against the PyBDSF catalogue boxes")
    print("IoU    " + " ".join(f"{t:>6.1f}" for t in astrofm.detect.IOU_STEPS))
    for name, report in reports.items():
        row = " ".join(f"{report.ap_per_iou[t]:6.3f}" for t in astrofm.detect.IOU_STEPS)
        print(f"{row}   {name}")
    for name, report in reports.items():
        print(f"\n{name}:\n{report}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from astrofm.detect.plots import plot_boxes, plot_map_vs_iou

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    plot_map_vs_iou(reports, ax=axes[0])
    plot_boxes(image, catalog[catalog["score"] >= 0.5], truth, ax=axes[1])
    axes[1].set_title("Abell 2255: detector (orange, score >= 0.5) and catalogue (cyan)")
    fig.tight_layout()
    fig.savefig(args.out / "radio_detection.png", dpi=120)
    print(f"\nwrote {args.out}/: radio_detector.astrofm, abell2255_sources.ecsv/.reg, "
          "radio_detection.png")


if __name__ == "__main__":
    main()
