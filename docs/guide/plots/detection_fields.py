"""Tiled detection of a generated field, and mAP against IoU, from saved results.

The detector was trained by ``detection_train.py`` (minutes on a CPU, more than the
documentation build may spend); this script regenerates the large field from its
seed and draws the saved catalogue and report over it.
"""

import json

import matplotlib.pyplot as plt
from astropy.table import Table
from detection_train import LARGE, OUT

from astrofm.detect import DetectionReport, simulate_field
from astrofm.detect.plots import plot_boxes, plot_map_vs_iou

field, truth = simulate_field(**LARGE)
catalog = Table.read(OUT / "field_catalog.ecsv")
saved = json.loads((OUT / "report.json").read_text())
report = DetectionReport(**{**saved, "ap_per_iou": {float(k): v
                                                    for k, v in saved["ap_per_iou"].items()}})

fig, (ax_field, ax_map) = plt.subplots(1, 2, figsize=(11, 4.8),
                                       gridspec_kw={"width_ratios": [1.1, 1]})
plot_boxes(field, predicted=catalog, true=truth, ax=ax_field)
ax_field.set_title(f"{catalog.meta['tile']} px tiles: {len(catalog)} found, "
                   f"{len(truth)} true", fontsize=10)
plot_map_vs_iou(report, ax=ax_map)
ax_map.set_title(f"{report.n_images} test fields: mAP@0.5 = {report.map_50:.2f}", fontsize=10)
fig.tight_layout()
