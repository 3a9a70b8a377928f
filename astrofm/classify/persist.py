"""Saving a classifier to one ``.astrofm`` file and rebuilding it.

The file (see :mod:`astrofm.saving`) holds tensors under three prefixes -- ``head.``,
``scaler.`` and ``backbone.`` -- and a JSON description: backbone name, weights
reference and build options, tuning and LoRA settings, head and its options, pooling,
class names, the exact preprocessing and the training options. Rebuilding goes
through the :class:`Classifier` constructor with those settings, so a loaded classifier
is built exactly as a new one would be, then receives the stored weights.
"""

from __future__ import annotations

import os
from pathlib import Path

from astrofm.errors import ConfigError, FileFormatError

__all__ = ["save_classifier", "load_classifier"]

_TUNING_KEYS = {"partial": ("blocks",),
                "lora": ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets")}
# Device settings stay behind: the machine that loads the file may have other hardware.
_RUN_KEYS = ("seed", "batch_size")


def _json_history(history: dict) -> dict:
    return {k: v for k, v in history.items() if isinstance(v, int | float | str | list)}


def save_classifier(clf, path, backbone="auto") -> Path:
    """Write ``clf`` to ``path`` once, from global rank 0; see :meth:`Classifier.save`.

    Every process of a multi-process job calls it; none returns before the file is
    written, and all raise rank 0's error when writing failed.
    """
    from astrofm.classify.module import placed_trainer
    from astrofm.trainer import barrier, is_global_zero

    trainer = placed_trainer(clf.options)
    barrier(trainer, "astrofm-classifier-save")
    failure = None
    if is_global_zero(trainer):
        try:
            _write(clf, path, backbone)
        except Exception as err:  # re-raised below, on every process, not swallowed
            failure = err
    failure = trainer.strategy.broadcast(failure)
    if failure is not None:
        raise failure
    return Path(path)


def _write(clf, path, backbone) -> Path:
    from astrofm.saving import save_model, weights_digest

    if backbone not in ("auto", True, False):
        raise ConfigError(f"backbone={backbone!r}: give 'auto', True or False.")
    reference = clf.options.weights
    needed = [why for why, yes in (
        (f"tuning={clf.tuning!r} trained it", clf.tuning in ("full", "partial")),
        ("it has random weights", reference is None and not clf._user_backbone),
        ("it was passed as a built module", clf._user_backbone)) if yes]
    if backbone is False and needed:
        raise ConfigError(f"save(backbone=False): the backbone must be stored because "
                          f"{' and '.join(needed)}.")
    include = bool(needed) if backbone == "auto" else backbone
    build_options = getattr(clf.backbone, "build_options", None)
    if build_options is None:
        raise ConfigError("cannot save: the backbone was not built by astrofm.backbones.load, "
                          "so the options that rebuild its architecture are unknown.")
    tensors = {f"head.{k}": v for k, v in clf.net.head.state_dict().items()}
    tensors.update({f"scaler.{k}": v for k, v in clf.net.scaler.state_dict().items()})
    state = clf.backbone.state_dict()
    tensors.update({f"backbone.{k}": v for k, v in state.items()
                    if include or "lora_" in k})
    if reference is not None and reference != "pretrained":
        reference = os.path.abspath(os.fspath(reference))
    config = {
        "model": clf.backbone.spec.name,
        "weights": None if include else reference,
        # Where the weights came from, even when the file stores them: reports of a
        # reloaded model must still say "random" for a random initialisation.
        "weights_origin": clf.backbone.weights_origin,
        "build_options": build_options,
        "backbone_included": include,
        "backbone_digest": None if include else weights_digest(clf.backbone),
        "tuning": clf.tuning,
        "head": clf.head_name,
        "head_config": clf.net.head.config(),
        "in_dim": clf.net.head.in_dim,
        "pooling": clf.pooling,
        "scaler": bool(clf.net.scaler.state_dict()),
        "classes": list(clf.classes),
        "preprocessing": clf.preprocessing.to_dict(),
        "options": clf.options.to_dict(),
        "history": _json_history(clf.history),
    }
    return save_model(path, "classifier", config, tensors)


def load_classifier(cls, config: dict, tensors: dict):
    """Rebuild a classifier saved by :func:`save_classifier`.

    ``config`` has been checked by :func:`astrofm.saving.read_model`; the tensors must
    be exactly those of the rebuilt head, scaler and (stored part of the) backbone.
    """
    from astrofm.classify.heads import Standardize, build_head
    from astrofm.classify.module import ClassifierNet
    from astrofm.preprocess import from_dict
    from astrofm.saving import check_weights, load_stored

    parts = {}
    for key, tensor in tensors.items():
        prefix, _, name = key.partition(".")
        parts.setdefault(prefix, {})[name] = tensor
    unexpected = sorted(k for k in tensors if k.partition(".")[0] not in
                        {"backbone", "head"} | ({"scaler"} if config["scaler"] else set()))
    if unexpected:
        raise FileFormatError(f"unexpected tensors {', '.join(unexpected[:5])}.")
    tuning, options = config["tuning"], config["options"]
    head_config = dict(config["head_config"])
    names = _TUNING_KEYS.get(tuning, ()) + _RUN_KEYS
    if any(k not in options for k in names):
        raise FileFormatError(f"the training options lack "
                              f"{', '.join(k for k in names if k not in options)}.")
    kwargs = {k: options[k] for k in names}
    kwargs.update({k: v for k, v in head_config.items() if k != "n_bank"})
    clf = cls(config["model"], head=config["head"], tuning=tuning,
              preprocessing=from_dict(config["preprocessing"]),
              weights=config["weights"], backbone_options=config["build_options"],
              pooling=config["pooling"], **kwargs)
    if config["backbone_included"]:
        load_stored(clf.backbone, parts.get("backbone", {}), "backbone")
    else:
        load_stored(clf.backbone, parts.get("backbone", {}), "backbone",
                    stored=lambda key: "lora_" in key)
        check_weights(clf.backbone, config["weights"], config["backbone_digest"], "classifier")
    head = build_head(config["head"], config["in_dim"], len(config["classes"]), **head_config)
    load_stored(head, parts.get("head", {}), "head")
    scaler = None
    if config["scaler"]:
        scaler = Standardize(config["in_dim"])
        load_stored(scaler, parts.get("scaler", {}), "scaler")
    clf.backbone.weights_origin = config["weights_origin"]
    clf.classes = list(config["classes"])
    clf.history = dict(config.get("history", {}))
    clf.net = ClassifierNet(clf.backbone, head, clf.pooling, scaler).eval()
    return clf
