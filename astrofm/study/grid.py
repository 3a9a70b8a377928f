"""A study's grid expanded into cells: one training and evaluation each.

The classification grid is the product of backbones, poolings, heads, tunings,
preprocessing variants, label fractions and seeds, less the pairs a classifier refuses
(whitening and kNN heads need a frozen backbone), plus the from-scratch baseline per
variant... of the baseline's own. Every cell is keyed by a digest of everything that
decides its result: the data's content, the backbone's parameters, the exact
preprocessing, head, tuning and its options, fraction, seed and schedule. A results
row with that key is a finished cell, whatever order the grid was written in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from astrofm.errors import ConfigError

__all__ = ["Cell", "expand", "variant_preprocessing"]


@dataclass
class Cell:
    """One configuration of a study, trained and scored once.

    Attributes
    ----------
    task : {"classify", "detect"}
    backbone, weights : str
        Registry name, and the weights as the study gives them (``"pretrained"``,
        ``"random"`` or a file).
    pooling, head, tuning, variant : str
        ``pooling`` and ``variant`` are names (``"default"``: the backbone's own).
    fraction : float
        Share of the training labels (classification).
    seed : int
    baseline : bool
        The model trained from random weights that every other cell is compared with.
    options : dict
        Classifier or Detector options of this cell (tuning options, schedule).
    preprocessing : dict
        The exact preprocessing (:meth:`Step.to_dict`), filled in by the runner.
    key : str
        Digest of the full configuration, filled in by the runner.
    """

    task: str
    backbone: str
    weights: str
    pooling: str = "default"
    head: str = ""
    tuning: str = "frozen"
    variant: str = "default"
    fraction: float = 1.0
    seed: int = 0
    baseline: bool = False
    options: dict = field(default_factory=dict)
    backbone_options: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)
    key: str = ""

    @property
    def name(self) -> str:
        """A short human label, e.g. ``resnet18 linear frozen default``."""
        parts = [self.backbone, self.head, self.tuning, self.variant]
        if self.pooling != "default":
            parts.append(self.pooling)
        return ("baseline " if self.baseline else "") + " ".join(p for p in parts if p)

    @property
    def features_group(self) -> tuple:
        """Cells sharing one frozen backbone's features share this group."""
        return (self.backbone, self.weights, self.pooling, self.variant,
                json.dumps(self.backbone_options, sort_keys=True))

    def digest(self, data_digest: str, weights_digest: str) -> str:
        """The cell's key: a digest of its configuration, data and starting weights."""
        config = {k: v for k, v in asdict(self).items() if k not in ("key", "weights")}
        text = json.dumps([config, data_digest, weights_digest], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def _tuning_options(tuning: dict) -> dict:
    return {k: v for k, v in tuning.items() if k != "name"}


def expand(study) -> list[Cell]:
    """Every cell of ``study``'s grids, in a stable order (frozen cells of one backbone
    and variant together, so their features are computed once)."""
    from astrofm.study.config import _valid_pair

    cells = []
    c = study.classify
    if c is not None:
        schedule = {k: c[k] for k in ("epochs", "lr", "solver", "batch_size") if c[k] is not None}
        for b in c["backbones"]:
            for variant in c["variants"]:
                for pooling in c["poolings"]:
                    for tuning in c["tunings"]:
                        for head in c["heads"]:
                            if not _valid_pair(head, tuning["name"]):
                                continue
                            options = {**schedule, **_tuning_options(tuning)}
                            cells += [Cell("classify", b["name"], b["weights"], pooling, head,
                                           tuning["name"], variant, f, s, False, options,
                                           b["options"])
                                      for f in c["fractions"] for s in c["seeds"]]
        base = c["baseline"]
        if base is not None:
            options = {k: base[k] for k in ("epochs", "lr", "batch_size") if base[k] is not None}
            if base["size"] is not None:
                options["size"] = base["size"]
            cells += [Cell("classify", base["backbone"], "random", "default", base["head"],
                           "full", base["variant"], f, s, True, options)
                      for f in c["fractions"] for s in c["seeds"]]
    d = study.detect
    if d is not None:
        schedule = {k: d[k] for k in ("epochs", "lr", "batch_size")}
        for b in d["backbones"]:
            for tuning in d["tunings"]:
                options = {**schedule, **d["options"], **_tuning_options(tuning)}
                cells += [Cell("detect", b["name"], b["weights"], tuning=tuning["name"], seed=s,
                               options=options, backbone_options=b["options"])
                          for s in d["seeds"]]
        base = d["baseline"]
        if base is not None:
            options = {**schedule, **d["options"],
                       **{k: base[k] for k in ("epochs", "lr") if base[k] is not None}}
            cells += [Cell("detect", base["backbone"], "random", tuning="full", seed=s,
                           baseline=True, options=options) for s in d["seeds"]]
    if not cells:
        raise ConfigError("the study's grid expands to no cell; give backbones, heads and "
                          "tunings that combine (whitening and knn heads need 'frozen').")
    return cells


def variant_preprocessing(spec, variant: dict, size=None):
    """The preprocessing of a named variant for one backbone.

    Parameters
    ----------
    spec : BackboneSpec
        The backbone (its patch size, input size, channels, mean and std).
    variant : dict
        ``{}`` (the backbone's default), ``size`` (input side), ``crop = "source"``
        (:class:`~astrofm.preprocess.CropToSource` before the resize, or a table of its
        options), ``insert`` (step dicts put before the resize), ``replace`` (class
        name to step dict, or false to drop a step), or ``steps`` (a whole pipeline as
        step dicts, used as it is).
    size : int, optional
        Input side when the variant gives none.

    Returns
    -------
    Step
    """
    from astrofm.features.adapt import default_preprocessing
    from astrofm.preprocess import CropToSource, Pipeline, from_dict

    if "steps" in variant:
        if set(variant) != {"steps"}:
            raise ConfigError("a variant with 'steps' gives the whole pipeline; leave out "
                              f"{sorted(set(variant) - {'steps'})}.")
        return Pipeline([from_dict(s) for s in variant["steps"]])
    insert = [from_dict(s) for s in variant.get("insert", [])]
    crop = variant.get("crop")
    if crop is not None:
        if crop != "source" and not isinstance(crop, dict):
            raise ConfigError(f"crop={crop!r}: give 'source' (CropToSource) or a table of "
                              "CropToSource options.")
        insert.insert(0, CropToSource(**(crop if isinstance(crop, dict) else {})))
    replace = {name: (from_dict(step) if step else None)
               for name, step in variant.get("replace", {}).items()}
    return default_preprocessing(spec, size=variant.get("size", size), replace=replace,
                                 insert=insert)
