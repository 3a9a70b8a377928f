"""The options of a :class:`~astrofm.classify.Classifier`, checked and completed.

Defaults that depend on the strategy are filled in by :meth:`Options.resolve`:

=====================  ===========================  =====================================
option                 frozen backbone (features)   lora / partial / full (end to end)
=====================  ===========================  =====================================
``solver``             ``"fast"`` (L-BFGS)           ``"adamw"`` (cosine schedule)
``epochs``             100 (``paper``/``adamw``)     30
``lr``                 5e-4 ``paper``, 1e-3 adamw    5e-4 ``paper``; adamw: 1e-3, or 1e-4
                                                     for full/partial tuning of trained
                                                     weights
``weight_decay``       ``"auto"`` (fast: chosen on   0.05 (adamw), 0 (paper)
                       validation), 0 (paper), 0.05
``augment``            off (features are cached)     on
``warmup_epochs``      --                            full: 10 for trained weights (as the
                                                     paper), 0 from random weights
=====================  ===========================  =====================================
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field

from astrofm.backbones.weights import RANDOM
from astrofm.classify.heads import HEAD_OPTIONS, HEADS
from astrofm.errors import ConfigError, UnknownNameError
from astrofm.runtime import (
    check_loop,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from astrofm.tuning import TUNINGS

__all__ = ["Options", "SOLVERS", "SEMI", "WEIGHT_DECAY_GRID"]

SOLVERS = ("fast", "paper", "adamw")

#: Semi-supervised methods, see :mod:`astrofm.classify.semi`.
SEMI = ("fixmatch", "pseudo-label")

#: L2 strengths the fast solver tries when ``weight_decay="auto"``.
WEIGHT_DECAY_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)

#: Options that only semi-supervised training (``semi=``) reads.
_SEMI_OPTIONS = ("threshold", "unlabeled_ratio", "lambda_u")

_TUNING_OPTIONS = {
    "blocks": ("partial",),
    "lora_rank": ("lora",), "lora_alpha": ("lora",), "lora_dropout": ("lora",),
    "lora_targets": ("lora",),
    "warmup_epochs": ("full",),
    "layer_decay": ("lora", "partial", "full"),
    "patience": ("lora", "partial", "full"),
}


@dataclass
class Options:
    """Every option of a classifier beyond its model, head, tuning and preprocessing.

    See :class:`~astrofm.classify.Classifier` for their meaning; None means "the
    default for this head and tuning" (see the module's table).
    """

    weights: object = "pretrained"
    backbone_options: dict = field(default_factory=dict)
    size: object = None
    pooling: str | None = None
    head_options: dict = field(default_factory=dict)
    solver: str | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int = 64
    weight_decay: object = None
    max_iter: int = 500
    class_weights: bool = True
    augment: bool | None = None
    val_fraction: float = 0.1
    blocks: int | None = None
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: str | None = None
    warmup_epochs: int | None = None
    layer_decay: float | None = None
    patience: int | None = None
    memoize: bool | None = None
    device: str = "auto"
    devices: object = "auto"
    num_nodes: int = 1
    strategy: object = "auto"
    precision: str = "32-true"
    num_workers: int = 0
    seed: int = 0
    features_cache: str | None = None
    checkpoint_dir: str | None = None
    progress: bool = False
    semi: str | None = None
    threshold: float = 0.95
    unlabeled_ratio: int = 7
    lambda_u: float = 1.0

    @classmethod
    def create(cls, head: str, tuning: str, given: dict) -> Options:
        """Options from the keyword arguments of a Classifier, checked.

        Raises
        ------
        UnknownNameError
            For an unknown head, tuning or option (with the closest names).
        ConfigError
            For an option that belongs to another head or tuning, or a head that needs a
            frozen backbone.
        """
        if head not in HEADS:
            raise UnknownNameError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}.")
        if tuning not in TUNINGS:
            raise UnknownNameError(f"unknown tuning {tuning!r}; choose one of "
                                   f"{', '.join(TUNINGS)}.")
        if head in ("whitening", "knn") and tuning != "frozen":
            raise ConfigError(f"head={head!r} is computed from fixed training features, so it "
                              f"needs tuning='frozen' (got tuning={tuning!r}).")
        fields = {f.name for f in dataclasses.fields(cls)} - {"head_options"}
        head_keys = {k for options in HEAD_OPTIONS.values() for k in options}
        unknown = sorted(set(given) - fields - head_keys)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(fields | head_keys), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(f"Classifier got unknown option(s) {unknown}.{hint}")
        for key in sorted(set(given) & head_keys):
            if key not in HEAD_OPTIONS[head]:
                owners = [h for h, o in HEAD_OPTIONS.items() if key in o]
                raise ConfigError(f"{key}= is an option of head={owners[0]!r}, not of "
                                  f"head={head!r}.")
        for key, tunings in _TUNING_OPTIONS.items():
            if key in given and tuning not in tunings:
                raise ConfigError(f"{key}= applies to tuning={' or '.join(map(repr, tunings))}, "
                                  f"not tuning={tuning!r}.")
        for key in _SEMI_OPTIONS:
            if key in given and given.get("semi") is None:
                raise ConfigError(f"{key}= is an option of semi-supervised training; give "
                                  "semi='fixmatch' or 'pseudo-label' (and fit(..., "
                                  f"unlabeled=...)), or leave {key}= out.")
            if key in given and key != "threshold" and tuning == "frozen":
                raise ConfigError(f"{key}= weighs unlabelled batches of end-to-end training; "
                                  "a frozen head self-trains on all unlabelled features. Leave "
                                  f"{key}= out or use tuning='lora', 'partial' or 'full'.")
        head_options = {k: given[k] for k in given if k in head_keys}
        options = cls(head_options=head_options,
                      **{k: v for k, v in given.items() if k not in head_keys})
        if options.weights == RANDOM:
            options.weights = None
        for key in ("features_cache", "checkpoint_dir"):
            value = getattr(options, key)
            if value is not None:
                setattr(options, key, os.fspath(value))
        options.check()
        return options

    def check(self) -> None:
        """Raise ConfigError naming the first option whose value cannot work.

        Numbers come first and the placement last: checking it imports Lightning. A
        count of devices given as text (``"2"``, from a command line) becomes an int.
        """
        for key in ("batch_size", "max_iter", "lora_rank", "epochs", "blocks", "patience",
                    "unlabeled_ratio"):
            if getattr(self, key) is not None:
                positive_int(getattr(self, key), key)
        for key in ("warmup_epochs", "num_workers", "seed"):
            if getattr(self, key) is not None:
                non_negative_int(getattr(self, key), key)
        if self.size is not None and not isinstance(self.size, tuple | list):
            positive_int(self.size, "size")
        for key in ("lr", "lora_alpha"):
            if getattr(self, key) is not None:
                positive_float(getattr(self, key), key)
        non_negative_float(self.lambda_u, "lambda_u")
        if self.semi is not None and self.semi not in SEMI:
            raise UnknownNameError(f"unknown semi={self.semi!r}; choose one of "
                                   f"{', '.join(SEMI)}, or leave semi= out for supervised "
                                   "training.")
        if self.weight_decay is not None and self.weight_decay != "auto":
            non_negative_float(self.weight_decay, "weight_decay")
        for key, ok, allowed in (("val_fraction", lambda v: 0 < v < 1, "in (0, 1)"),
                                 ("lora_dropout", lambda v: v < 1, "in [0, 1)"),
                                 ("layer_decay", lambda v: 0 < v <= 1, "in (0, 1]"),
                                 ("threshold", lambda v: 0 < v < 1, "in (0, 1)")):
            value = getattr(self, key)
            if value is not None and not ok(non_negative_float(value, key)):
                raise ConfigError(f"{key}={value!r}: give a number {allowed}.")
        placement = check_loop(device=self.device, precision=self.precision,
                               num_workers=self.num_workers, devices=self.devices,
                               num_nodes=self.num_nodes, strategy=self.strategy)
        self.devices, self.num_nodes, self.strategy = (placement[k] for k in
                                                       ("devices", "num_nodes", "strategy"))

    def resolve(self, head: str, tuning: str, trained_weights: bool) -> Options:
        """Fill in the defaults that depend on head and tuning (see the module's table)."""
        frozen = tuning == "frozen"
        solver = self.solver or ("fast" if frozen else "adamw")
        if solver not in SOLVERS:
            raise UnknownNameError(f"unknown solver {solver!r}; choose one of "
                                   f"{', '.join(SOLVERS)}.")
        if solver == "fast" and not frozen:
            raise ConfigError(f"solver='fast' fits a head on cached features, so it needs "
                              f"tuning='frozen'; use 'adamw' or 'paper' with tuning={tuning!r}.")
        if self.augment and frozen:
            raise ConfigError("augment=True needs a backbone that trains: a frozen backbone's "
                              "features are computed once and cached. Use tuning='lora', "
                              "'partial' or 'full', or leave augment off.")
        if frozen and self.semi == "fixmatch":
            raise ConfigError("semi='fixmatch' compares augmented views of images, and a frozen "
                              "backbone's features are cached; use semi='pseudo-label' "
                              "(self-training of the head) or tuning='lora', 'partial' or "
                              "'full'.")
        epochs = self.epochs if self.epochs is not None else (100 if frozen else 30)
        if self.lr is not None:
            lr = self.lr
        elif solver == "paper":
            lr = 5e-4
        else:
            lr = 1e-4 if tuning in ("full", "partial") and trained_weights else 1e-3
        weight_decay = self.weight_decay
        if weight_decay is None:
            weight_decay = {"fast": "auto", "paper": 0.0, "adamw": 0.05}[solver]
        if weight_decay == "auto" and solver != "fast":
            raise ConfigError("weight_decay='auto' (chosen on the validation split) is for "
                              "solver='fast'; give a number.")
        warmup = self.warmup_epochs
        if warmup is None:
            # Warming the head up protects trained features from a random head's first
            # gradients; random weights hold nothing to protect.
            warmup = 10 if tuning == "full" and trained_weights else 0
        if warmup and warmup >= epochs:
            raise ConfigError(f"warmup_epochs={warmup} leaves none of the {epochs} epochs for "
                              "the backbone; give more epochs or a shorter warm-up.")
        return dataclasses.replace(self, solver=solver, epochs=epochs, lr=lr,
                                   weight_decay=weight_decay, warmup_epochs=warmup,
                                   augment=bool(self.augment if self.augment is not None
                                                else not frozen))

    def to_dict(self) -> dict:
        """The options as JSON-able values."""
        # Lightning also takes Accelerator and Strategy objects; their class names them.
        named = {k: type(getattr(self, k)).__name__ for k in ("device", "strategy")
                 if not isinstance(getattr(self, k), str)}
        out = dataclasses.asdict(dataclasses.replace(self, **named))
        out["weights"] = None if self.weights is None else os.fspath(self.weights)
        for key in ("size", "weight_decay"):
            if isinstance(out[key], tuple):
                out[key] = list(out[key])
        out["head_options"] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in self.head_options.items()}
        return out
