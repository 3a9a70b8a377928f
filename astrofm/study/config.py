"""The description of a study: what to compare, on which data, checked before any compute.

A study is written once as a TOML file (read with the standard library's ``tomllib``)
or built in Python as :class:`Study` with the same fields::

    name = "mirabest"

    [data]
    train = "mirabest/train.npz"          # class folders, .npz, or a catalogue
    test = "mirabest/test.npz"

    [classify]
    backbones = ["resnet18", { name = "dinov2-small", weights = "dinov2s.safetensors" }]
    weights = "pretrained"                # for backbones given by name alone
    heads = ["linear", "mlp", "whitening"]
    tunings = ["frozen"]                  # or { name = "lora", lora_rank = 8 }
    fractions = [0.1, 0.3, 0.5, 1.0]
    seeds = [0, 1, 2]
    baseline = { backbone = "resnet18", epochs = 40, size = 64 }

    [classify.variants]
    default = {}
    crop = { crop = "source" }            # CropToSource before the resize
    size320 = { size = 320 }

    [reference]
    backbone = "resnet18"
    head = "linear"

Every key is checked: an unknown one names the closest known keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrofm.errors import ConfigError, UnknownNameError

__all__ = ["Study", "load_study"]

#: Keys of each table of a study file, with their defaults (None: required or absent).
_TOP = {"name", "data", "classify", "detect", "reference", "run", "showcase"}
_DATA = {"train": None, "val": None, "test": None, "label_column": "label", "hdu": None}
_CLASSIFY = {"backbones": None, "weights": "pretrained", "poolings": ["default"],
             "heads": ["linear"], "tunings": ["frozen"], "variants": {"default": {}},
             "fractions": [1.0], "seeds": [0], "epochs": None, "lr": None, "solver": None,
             "batch_size": 64, "size": None, "baseline": None}
_DETECT = {"train": None, "val": None, "test": None, "backbones": None,
           "weights": "pretrained", "tunings": ["frozen"], "seeds": [0], "epochs": 10,
           "lr": 1e-4, "batch_size": 4, "baseline": None, "options": {}}
_BASELINE = {"backbone": "resnet18", "epochs": None, "lr": None, "size": None, "head": "linear",
             "variant": "default", "batch_size": None}
_REFERENCE = {"backbone": None, "head": None, "tuning": None, "variant": None, "pooling": None}
_RUN = {"device": "auto", "devices": "auto", "num_nodes": 1, "strategy": "auto",
        "precision": "32-true", "num_workers": 0, "progress": True}
_VARIANT = {"size", "crop", "insert", "replace", "steps"}


def _check_keys(given: dict, known, where: str) -> None:
    if not isinstance(given, dict):
        raise ConfigError(f"[{where}] must be a table of keys, not {given!r}.")
    unknown = sorted(set(given) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(f"[{where}] has unknown key {unknown[0]!r}.{hint} Known keys: "
                               f"{', '.join(sorted(known))}.")


def _filled(given: dict | None, defaults: dict, where: str) -> dict:
    given = {} if given is None else given
    _check_keys(given, defaults, where)
    return {**defaults, **given}


@dataclass
class Study:
    """A grid of configurations compared on one data set (see the module docstring).

    Parameters
    ----------
    name : str
        Names the study in the report.
    data : dict
        ``train``, optional ``val``, ``test`` (paths astrofm reads: class folders,
        ``.npz``, catalogues), ``label_column`` and ``hdu``.
    classify : dict, optional
        The classification grid: ``backbones`` (names, or tables with ``name``,
        ``weights`` and builder ``options``), ``weights`` (for names alone:
        ``"pretrained"``, ``"random"`` or a file), ``poolings``, ``heads``, ``tunings``
        (names, or tables with ``name`` and Classifier options such as ``lora_rank``,
        ``blocks``, ``epochs``, ``lr``), ``variants`` (named preprocessings: ``{}`` for
        the backbone's default, ``size``, ``crop = "source"``, ``insert``/``replace``
        step dicts, or a whole pipeline as ``steps``), ``fractions``, ``seeds``,
        ``epochs``, ``lr``, ``solver``, ``batch_size``, ``size`` and ``baseline`` (a
        model trained from random weights: ``backbone``, ``epochs``, ``lr``, ``size``).
    detect : dict, optional
        The detection grid: ``train``, ``val``, ``test`` (each a COCO JSON file, or a
        table ``{images = [...], catalog = "sources.ecsv"}`` turned into one with
        :func:`astrofm.detect.catalog_to_coco`), ``backbones``,
        ``weights``, ``tunings``, ``seeds``, ``epochs``, ``lr``, ``batch_size``,
        ``baseline`` and Detector ``options``.
    reference : dict, optional
        The configuration every change is stated against: ``backbone``, ``head``,
        ``tuning``, ``variant``, ``pooling`` (default: the first of each).
    run : dict, optional
        Lightning's ``device``, ``devices``, ``num_nodes``, ``strategy`` and
        ``precision``, given to every cell's model and embedding; ``num_workers``;
        ``progress``.
    showcase : list of path, optional
        Images shown in the report's preprocessing and attention panels beside a few
        test images (a real FITS file of the survey, say).
    root : path, optional
        Folder that relative paths are read from (a study file's folder).
    """

    name: str = "study"
    data: dict = field(default_factory=dict)
    classify: dict | None = None
    detect: dict | None = None
    reference: dict | None = None
    run: dict = field(default_factory=dict)
    showcase: list = field(default_factory=list)
    root: Any = None

    def __post_init__(self):
        self.root = Path(self.root or ".")
        self.data = _filled(self.data, _DATA, "data") if self.classify else dict(self.data or {})
        if self.classify is not None:
            self.classify = _filled(self.classify, _CLASSIFY, "classify")
        if self.detect is not None:
            self.detect = _filled(self.detect, _DETECT, "detect")
        self.run = _filled(self.run, _RUN, "run")
        self.showcase = [os.fspath(p) for p in self.showcase]
        for image in self.showcase:
            if not self.path(image).is_file():
                raise ConfigError(f"[showcase] {image}: no such image file.")
        if self.classify is None and self.detect is None:
            raise ConfigError("the study has no grid: give a [classify] or a [detect] table.")
        if self.classify is not None:
            self._check_classify()
            self.reference = self._reference(self.reference)
        elif self.reference:
            raise ConfigError("[reference] describes a classification configuration; this "
                              "study has no [classify] grid.")
        if self.detect is not None:
            self._check_detect()

    # ---------------------------------------------------------------- checks
    def path(self, value) -> Path | None:
        """``value`` as a path, relative paths taken from the study file's folder."""
        if value is None:
            return None
        path = Path(os.fspath(value)).expanduser()
        return path if path.is_absolute() else self.root / path

    def _check_classify(self):
        from astrofm.classify.heads import HEADS
        from astrofm.tuning import TUNINGS

        c = self.classify
        for key in ("train", "test"):
            if not self.data.get(key):
                raise ConfigError(f"[data] {key} is missing: a classification study needs a "
                                  "labelled training and test split.")
        c["backbones"] = [self._backbone(b, c["weights"], "classify") for b in
                          _nonempty(c["backbones"], "classify.backbones")]
        c["heads"] = [_choice(h, HEADS, "classify.heads") for h in
                      _nonempty(c["heads"], "classify.heads")]
        c["tunings"] = [_tuning(t, TUNINGS) for t in _nonempty(c["tunings"], "classify.tunings")]
        c["poolings"] = [str(p) for p in _nonempty(c["poolings"], "classify.poolings")]
        c["fractions"] = [_fraction(f) for f in _nonempty(c["fractions"], "classify.fractions")]
        c["seeds"] = [_int(s, "classify.seeds") for s in _nonempty(c["seeds"], "classify.seeds")]
        variants = c["variants"]
        if not isinstance(variants, dict) or not variants:
            raise ConfigError("[classify.variants] must name at least one preprocessing, "
                              "e.g. default = {}.")
        for name, spec in variants.items():
            _check_keys(spec, _VARIANT, f"classify.variants.{name}")
        if c["baseline"] is not None:
            c["baseline"] = _filled(c["baseline"], _BASELINE, "classify.baseline")
            self._backbone(c["baseline"]["backbone"], "random", "classify.baseline")
            if c["baseline"]["variant"] not in variants:
                raise ConfigError(f"[classify.baseline] variant={c['baseline']['variant']!r} "
                                  f"is not one of the variants {sorted(variants)}.")
        if not any(_valid_pair(h, t["name"]) for h in c["heads"] for t in c["tunings"]):
            raise ConfigError("the classification grid is empty: heads "
                              f"{c['heads']} need tuning='frozen', which is not among the "
                              "tunings.")

    def _check_detect(self):
        from astrofm.tuning import TUNINGS

        d = self.detect
        for key in ("train", "val", "test"):
            value = d.get(key)
            if not value:
                if key != "val":
                    raise ConfigError(f"[detect] {key} is missing: give a COCO JSON file, or "
                                      "{ images = [...], catalog = 'sources.ecsv' }.")
                continue
            if isinstance(value, dict):
                _check_keys(value, {"images", "catalog"}, f"detect.{key}")
                if not value.get("images") or not value.get("catalog"):
                    raise ConfigError(f"[detect.{key}] needs images (a list of files) and "
                                      "catalog (their sources, in astrofm.detect.catalog's "
                                      "convention).")
            elif not str(value).lower().endswith(".json"):
                raise ConfigError(f"[detect] {key}={value!r}: a detection grid needs boxes, "
                                  "in a COCO JSON file or images with a source catalogue; "
                                  "class folders, .npz files and label catalogues are "
                                  "classification data.")
        d["backbones"] = [self._backbone(b, d["weights"], "detect") for b in
                          _nonempty(d["backbones"], "detect.backbones")]
        d["tunings"] = [_tuning(t, TUNINGS) for t in _nonempty(d["tunings"], "detect.tunings")]
        d["seeds"] = [_int(s, "detect.seeds") for s in _nonempty(d["seeds"], "detect.seeds")]
        if d["baseline"] is not None:
            d["baseline"] = _filled(d["baseline"], {"backbone": "resnet18", "epochs": None,
                                                    "lr": None}, "detect.baseline")
            self._backbone(d["baseline"]["backbone"], "random", "detect.baseline")

    def _backbone(self, entry, weights, where) -> dict:
        from astrofm import backbones
        from astrofm.backbones.weights import resolve_weights

        if isinstance(entry, str):
            entry = {"name": entry}
        _check_keys(entry, {"name", "weights", "options"}, f"{where}.backbones")
        if "name" not in entry:
            raise ConfigError(f"[{where}] a backbone table needs a name, e.g. "
                              "{ name = 'resnet18' }.")
        spec = backbones.get(entry["name"])
        weights = entry.get("weights", weights)
        if weights not in (None, "random", "pretrained"):
            weights = self.path(weights)
        resolve_weights(weights)
        return {"name": spec.name, "weights": "random" if weights is None else (
            os.fspath(weights) if isinstance(weights, Path) else weights),
            "options": dict(entry.get("options", {}))}

    def _reference(self, given) -> dict:
        c = self.classify
        given = _filled(given, _REFERENCE, "reference")
        first_valid = next(t["name"] for t in c["tunings"]
                           if any(_valid_pair(h, t["name"]) for h in c["heads"]))
        ref = {"backbone": given["backbone"] or c["backbones"][0]["name"],
               "head": given["head"] or c["heads"][0],
               "tuning": given["tuning"] or first_valid,
               "variant": given["variant"] or next(iter(c["variants"])),
               "pooling": given["pooling"] or c["poolings"][0]}
        known = {"backbone": [b["name"] for b in c["backbones"]], "head": c["heads"],
                 "tuning": [t["name"] for t in c["tunings"]], "variant": list(c["variants"]),
                 "pooling": c["poolings"]}
        from astrofm import backbones

        ref["backbone"] = backbones.get(ref["backbone"]).name
        for key, values in known.items():
            if ref[key] not in values:
                raise ConfigError(f"[reference] {key}={ref[key]!r} is not in the grid's "
                                  f"{key}s {values}.")
        return ref

    def to_dict(self) -> dict:
        """The study as plain values (what a TOML file would hold, resolved)."""
        out = dataclasses.asdict(self)
        out["root"] = os.fspath(self.root)
        return out


def _nonempty(values, where):
    if values is None or (isinstance(values, list | tuple) and not values):
        raise ConfigError(f"[{where}] is empty: the grid needs at least one entry.")
    return list(values) if isinstance(values, list | tuple) else [values]


def _choice(value, allowed, where):
    if value not in allowed:
        close = difflib.get_close_matches(str(value), list(allowed), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(f"[{where}] unknown {value!r}.{hint} Choose from "
                               f"{', '.join(allowed)}.")
    return value


def _tuning(value, allowed) -> dict:
    entry = {"name": value} if isinstance(value, str) else dict(value)
    if "name" not in entry:
        raise ConfigError("a tuning table needs a name, e.g. { name = 'lora', lora_rank = 8 }.")
    _choice(entry["name"], allowed, "tunings")
    return entry


def _fraction(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(f"[classify.fractions] {value!r} is not a label fraction: give "
                          "numbers in (0, 1], e.g. [0.1, 0.3, 1.0].")
    return float(value)


def _int(value, where) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"[{where}] {value!r} is not an integer.")
    return value


def _valid_pair(head: str, tuning: str) -> bool:
    """Whitening and kNN heads are computed from fixed features: frozen backbones only."""
    return tuning == "frozen" or head in ("linear", "mlp")


def load_study(path) -> Study:
    """Read and check a study file.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML file; relative data paths in it are taken from its folder.

    Returns
    -------
    Study

    Raises
    ------
    InputFileError, FileFormatError, ConfigError
        A missing or unreadable file, a TOML syntax error, or a bad key or value.
    """
    from astrofm.errors import FileFormatError, InputFileError

    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise InputFileError(f"{path}: no such study file; write one as described in "
                             "astrofm.study.Study, or run 'astrofm study --demo'.")
    try:
        with open(path, "rb") as fh:
            given = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: not a valid TOML study file: {exc}.") from exc
    _check_keys(given, _TOP, "study")
    try:
        return Study(**given, root=path.parent)
    except ConfigError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
