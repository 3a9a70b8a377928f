"""Saving and loading detectors as ``.astrofm`` files (see :mod:`astrofm.saving`).

The file holds the network's tensors, less the backbone's when the backbone is frozen
and can be rebuilt from a weights reference (``"pretrained"`` or a file, whose digest is
recorded and checked on loading), plus the box prior, the exact preprocessing and where
the backbone's weights came from.
"""

from __future__ import annotations

import os
from pathlib import Path

from astrofm.errors import ConfigError

__all__ = ["save_detector", "load_detector"]


def stores_backbone(tuning: str, weights) -> bool:
    """Whether a saved detector holds its backbone: trained, or not rebuildable from weights."""
    return tuning != "frozen" or weights is None


def _is_backbone_key(key: str) -> bool:
    """Whether a network tensor is the backbone's own (not the pyramid's or the heads')."""
    return key.startswith("backbone.backbone.")


def save_detector(det, path) -> Path:
    """Write ``det`` to ``path``; see :meth:`astrofm.detect.Detector.save`."""
    from astrofm.saving import SUFFIX, save_model, weights_digest

    det._require_network("save")
    if det.name is None:
        raise ConfigError("save: the detector was built on a backbone module, which cannot "
                          "be rebuilt from a name; create it with model='<name>' and "
                          "backbone_options= to save it.")
    stored = stores_backbone(det.tuning, det.weights)
    state = det.network.state_dict()
    if not stored:
        state = {k: v for k, v in state.items() if not _is_backbone_key(k)}
    weights = det.weights
    if weights not in (None, "pretrained"):
        # Loading may happen from another working directory.
        weights = os.path.abspath(weights)
    config = {"model": det.name, "weights": weights,
              "weights_origin": det.backbone.weights_origin,
              "backbone_digest": None if stored else weights_digest(det.backbone),
              "backbone_options": det.backbone_options, "tuning": det.tuning,
              "tuning_options": det.tuning_options, "classes": det.classes,
              "min_patches": det.min_patches, "prior": det.prior.to_dict(),
              "preprocessing": det.preprocessing.to_dict(),
              "network": det.network_options, "history": det.history,
              "calibration": det.calibration and det.calibration.to_dict()}
    import torch.distributed as dist

    # In a multi-process job (after fit with devices=2, say) every process holds the same
    # detector and calls save: rank 0 writes, and the others wait until the file is there.
    shared = dist.is_available() and dist.is_initialized()
    if shared and Path(path).suffix != SUFFIX:
        # Checked on every process: rank 0 failing alone would leave the others waiting.
        raise ConfigError(f"save: {Path(path).name!r} must end in {SUFFIX!r}.")
    if not shared or dist.get_rank() == 0:
        save_model(path, "detector", config, state)
    if shared:
        dist.barrier()
    return Path(path)


def load_detector(cls, config: dict, tensors: dict):
    """Rebuild a detector saved by :func:`save_detector`.

    ``config`` has been checked by :func:`astrofm.saving.read_model`; the tensors must be
    exactly those of the rebuilt network (less the backbone's when it is rebuilt from
    its weights, whose digest must then match the one saved).
    """
    from astrofm.detect.anchors import BoxPrior
    from astrofm.detect.calibrate import ScoreCalibration
    from astrofm.preprocess import from_dict
    from astrofm.saving import check_weights, load_stored

    stored = stores_backbone(config["tuning"], config["weights"])
    # A stored backbone replaces whatever it is built with: never fetch weights for it.
    det = cls(config["model"], config["tuning"], weights=None if stored else config["weights"],
              backbone_options=config["backbone_options"], classes=config["classes"],
              min_patches=config["min_patches"], tuning_options=config["tuning_options"],
              **config["network"])
    det.weights = config["weights"]
    det.backbone.weights_origin = config["weights_origin"]
    det._build(BoxPrior.from_dict(config["prior"]), from_dict(config["preprocessing"]))
    if stored:
        load_stored(det.network, tensors, "network")
    else:
        load_stored(det.network, tensors, "network", stored=lambda key: not _is_backbone_key(key))
        check_weights(det.backbone, config["weights"], config["backbone_digest"], "detector")
    det.history = config.get("history", {})
    if config.get("calibration"):
        det.calibration = ScoreCalibration.from_dict(config["calibration"])
    det.network.eval()
    return det
