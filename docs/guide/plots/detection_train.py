"""Make the saved results drawn on the detection page (run by hand, not by the build).

Training a detector takes minutes on a CPU, more than the documentation build may
spend, so this script trains once and writes what the page's figure reads:
``detection_results/report.json`` (mAP against IoU on generated test fields) and
``detection_results/field_catalog.ecsv`` (the tiled detection of a generated
256 x 256 field, which the figure regenerates from its seed)::

    python docs/guide/plots/detection_train.py

The backbone is a ResNet-18 from random weights (``weights=None``): nothing is
downloaded, and the numbers say nothing about a pretrained foundation model.
"""

import json
import tempfile
from pathlib import Path

from astropy.io import fits

from astrofm.detect import Detector, simulate_field, write_catalog, write_simulated

OUT = Path(__file__).with_name("detection_results")
#: The generated fields: shared with the figure, which regenerates the large one.
FIELD = {"beam_fwhm": 2.5, "snr": (10.0, 300.0), "n_sources": (3, 8)}
LARGE = {"shape": 256, "seed": 7, "beam_fwhm": 2.5, "snr": (10.0, 300.0), "n_sources": 30}
SMALL_NET = {"out_channels": 16, "representation_size": 32, "rpn_batch_size_per_image": 32,
             "box_batch_size_per_image": 32, "rpn_pre_nms_top_n_test": 200,
             "rpn_post_nms_top_n_test": 100}
TILE = {"tile": 96, "overlap": 16}


def main():
    work = Path(tempfile.mkdtemp())
    train = write_simulated(work / "train", 48, seed=0, shape=64, **FIELD)
    test = write_simulated(work / "test", 16, seed=1, shape=64, **FIELD)
    det = Detector("resnet18", tuning="full", weights=None, input_scale=1.0,
                   anchor_sizes=(6.0, 10.0, 16.0), **SMALL_NET)
    det.fit(train, epochs=15, batch_size=4, lr=1e-3, progress=False)
    report = det.evaluate(test)
    print(report)

    field, _ = simulate_field(**LARGE)
    fits.PrimaryHDU(field.data).writeto(work / "field.fits")
    OUT.mkdir(exist_ok=True)
    catalog = det.detect(work / "field.fits", score_threshold=0.5, progress=False, **TILE)
    catalog.meta["source"] = f"simulate_field(**{LARGE})"   # not the temporary file
    write_catalog(catalog, OUT / "field_catalog.ecsv")
    (OUT / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")


if __name__ == "__main__":
    main()
