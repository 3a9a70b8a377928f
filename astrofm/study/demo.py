"""The offline demo study: simulated radio galaxies, two small backbones, one detector.

Nothing is downloaded. The data are generated into ``DIR/data`` (once: a resumed demo
reuses them, so its cells keep their keys): radio galaxies in the Radio Galaxy Zoo
scheme (:func:`astrofm.detect.write_radio_galaxies`, labelled by measured components
and peaks) and radio fields with their boxes (:func:`astrofm.detect.write_simulated`).
Backbones use their published weights when the hub is reachable and random weights
otherwise, which the report then states plainly. A real image from an installed
package's wheel (astropy's M13 test image) shows the preprocessing and attention.
"""

from __future__ import annotations

import logging
import socket
from importlib import resources
from pathlib import Path

from astrofm.study.config import Study

__all__ = ["demo_study", "DEMO_BACKBONES"]

log = logging.getLogger("astrofm.study")

#: The demo's backbones: a CNN and a ViT small enough for two CPU cores.
DEMO_BACKBONES = ("resnet18", "dinov2-small")
_KINDS = ("1C-1P", "1C-2P", "2C-2P", "2C-3P")
#: A lighter Faster R-CNN, as examples/radio_detection.py trains on generated fields.
_SMALL_DETECTOR = {"out_channels": 64, "representation_size": 256,
                   "rpn_pre_nms_top_n_train": 500, "rpn_post_nms_top_n_train": 250,
                   "rpn_batch_size_per_image": 128, "box_batch_size_per_image": 64}
_SIDE = 64


def _hub_reachable(name: str) -> bool:
    """Whether the host of ``name``'s published weights resolves (no retries to wait for)."""
    from astrofm import backbones

    host = "download.pytorch.org" if backbones.get(name).library == "torchvision" else (
        "huggingface.co")
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _weights(name: str) -> str:
    """"pretrained" when the weights can be had here, else "random" (stated in the report)."""
    from astrofm import backbones
    from astrofm.errors import WeightsError

    if _hub_reachable(name):
        try:
            backbones.load(name, weights="pretrained")
            return "pretrained"
        except WeightsError:
            pass
    log.warning("%s: pretrained weights are unreachable; the demo uses random weights", name)
    return "random"


def _wheel_image() -> Path | None:
    """astropy's M13 test image (a real photographic plate scan), if the wheel has it."""
    image = resources.files("astropy.io.fits.hdu.compressed.tests") / "data" / "m13.fits"
    return Path(str(image)) if image.is_file() else None


def _write_data(folder: Path) -> None:
    from astrofm.detect import write_radio_galaxies, write_simulated

    if (folder / "done").exists():
        return
    write_radio_galaxies(folder / "train", 30, kinds=_KINDS, seed=1, shape=_SIDE)
    write_radio_galaxies(folder / "test", 12, kinds=_KINDS, seed=2, shape=_SIDE)
    # Many small fields train a detector from scratch in a minute: 96 fields of 48 px for
    # 3 epochs reached mAP@0.5 0.71 on 12 test fields (136 s on two busy cores).
    fields = {"shape": 48, "n_sources": (2, 6), "beam_fwhm": 3.0, "snr": (8.0, 200.0)}
    write_simulated(folder / "fields", 64, seed=3, name="train", **fields)
    write_simulated(folder / "fields", 12, seed=4, name="test", **fields)
    (folder / "done").write_text("generated\n")


def demo_study(out) -> Study:
    """The demo study, with its data generated in ``out/data``.

    Parameters
    ----------
    out : path
        The run folder the demo will use.

    Returns
    -------
    Study
    """
    data = Path(out) / "data"
    _write_data(data)
    backbones = [{"name": name, "weights": _weights(name)} for name in DEMO_BACKBONES]
    showcase = [p for p in [_wheel_image()] if p is not None]
    return Study(
        name="astrofm demo: simulated radio galaxies (RGZ scheme)",
        data={"train": data / "train", "test": data / "test"},
        classify={"backbones": backbones, "heads": ["linear", "whitening"], "tunings": ["frozen"],
                  "variants": {"default": {}, "crop": {"crop": {"select": "all"}}},
                  "fractions": [0.3, 1.0], "seeds": [0, 1], "size": 56,
                  "baseline": {"backbone": "resnet18", "epochs": 8, "lr": 2e-3, "size": 64}},
        detect={"train": data / "fields" / "train.json", "test": data / "fields" / "test.json",
                "backbones": [backbones[0]], "tunings": ["full"], "epochs": 2,
                "batch_size": 8, "lr": 1e-3, "options": _SMALL_DETECTOR},
        reference={"backbone": DEMO_BACKBONES[0], "head": "linear", "variant": "default"},
        showcase=showcase,
    )
