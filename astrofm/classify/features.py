"""Feature tables of a frozen backbone, computed once and reused.

A frozen classifier trains its head on the feature table :func:`astrofm.embed` makes.
Tables are kept in memory (the last few) and, with a ``features_cache`` folder, on disk
in one resumable :func:`astrofm.embed` cache per configuration. The key is what decides
the features: the backbone's parameters, the pooling, the exact preprocessing and the
inputs (:func:`inputs_digest`); so comparing heads, label fractions or seeds on one
data set runs the backbone over it once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

from astropy.table import Table

from astrofm.errors import ConfigError
from astrofm.features.fingerprint import backbone_digest, inputs_digest

__all__ = ["backbone_digest", "inputs_digest", "feature_key", "cached_embed",
           "classifier_features", "check_table", "clear_memory"]

# Feature tables of this process, most recently used last.
_MEMORY: OrderedDict[str, Table] = OrderedDict()
_MEMORY_SIZE = 8


def clear_memory() -> None:
    """Forget the feature tables kept in memory."""
    _MEMORY.clear()


def preprocessing_text(preprocessing) -> str:
    """The preprocessing as :func:`astrofm.embed` records it in a table's ``PREPROC``."""
    return json.dumps(preprocessing.to_dict(), default=str)


def feature_key(digest: str, pooling: str, preprocessing, dataset) -> str:
    """Hex key of the features of ``dataset`` under one backbone configuration."""
    text = json.dumps([digest, pooling, preprocessing_text(preprocessing),
                       inputs_digest(dataset), len(dataset)])
    return hashlib.sha1(text.encode()).hexdigest()


def cached_embed(dataset, backbone, digest: str, pooling: str, preprocessing, *,
                 cache_dir=None, classes=None, **embed_options) -> Table:
    """Features of ``dataset``: from memory, from ``cache_dir``, or computed by embed.

    Parameters
    ----------
    dataset : ImageDataset or Subset
        The images.
    backbone : Backbone
        The frozen backbone.
    digest : str
        :func:`backbone_digest` of ``backbone`` (computed once by the caller).
    pooling : str
        Pooling of the features.
    preprocessing : Step
        Preprocessing applied to every image (replaces the data set's own).
    cache_dir : str or path, optional
        Folder holding one resumable embed cache per configuration.
    classes : list of str, optional
        The data set's class names, recorded in ``meta["CLASSES"]``.
    **embed_options
        Passed to :func:`astrofm.embed` (batch_size, device, precision ...).

    Returns
    -------
    astropy.table.Table
        A shallow copy (columns shared, meta its own) of the cached table.
    """
    from astrofm.features import embed

    key = feature_key(digest, pooling, preprocessing, dataset)
    table = _MEMORY.get(key)
    if table is None:
        cache = None if cache_dir is None else Path(cache_dir) / key[:20]
        table = embed(dataset, model=backbone, pooling=pooling, preprocessing=preprocessing,
                      cache=cache, **embed_options)
        if classes is not None:
            table.meta["CLASSES"] = json.dumps(list(classes))
        _MEMORY[key] = table
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)
    _MEMORY.move_to_end(key)
    return table.copy(copy_data=False)


def classifier_features(clf, data) -> Table:
    """Features of ``data`` from ``clf``'s frozen backbone; see :meth:`Classifier.embed`."""
    from astrofm.classify.data import is_test, mark_test
    from astrofm.classify.module import placed_trainer
    from astrofm.features import as_dataset

    if clf.tuning != "frozen":
        raise ConfigError(f"embed gives the features of a frozen backbone; with "
                          f"tuning={clf.tuning!r} the backbone changes during fit.")
    o = clf.options
    processes = placed_trainer(o).world_size
    if processes > 1 and o.features_cache is None:
        raise ConfigError(f"devices={o.devices!r}, num_nodes={o.num_nodes!r} run "
                          f"{processes} processes, which share a frozen backbone's "
                          "features through files: give features_cache= a folder on a "
                          "file system they all reach.")
    dataset = as_dataset(data)
    classes = [str(c) for c in getattr(dataset, "classes", [])] or None
    table = cached_embed(dataset, clf.backbone, clf.digest, clf.pooling, clf.preprocessing,
                         cache_dir=o.features_cache, classes=classes,
                         batch_size=o.batch_size, num_workers=o.num_workers,
                         device=o.device, devices=o.devices, num_nodes=o.num_nodes,
                         strategy=o.strategy, precision=o.precision, progress=o.progress)
    if is_test(data):
        mark_test(table)
    return table


def check_table(table: Table, spec_name: str, digest: str, pooling: str, preprocessing,
                where: str) -> None:
    """Refuse a feature table that another backbone configuration made.

    A table from :func:`astrofm.embed` records its model, the digest of the backbone's
    parameters (``WDIGEST``), pooling and preprocessing; features of another
    configuration would give a head that fails silently on new images.
    """
    made = {k: table.meta.get(k) for k in ("MODEL", "WDIGEST", "POOLING", "PREPROC")}
    ours = {"MODEL": spec_name, "WDIGEST": digest, "POOLING": pooling,
            "PREPROC": preprocessing_text(preprocessing)}
    wrong = [k for k, v in ours.items() if made[k] != v]
    if wrong:
        names = "/".join("weights" if k == "WDIGEST" else k.lower() for k in wrong)
        raise ConfigError(
            f"{where}: the feature table was made with another {names} than this classifier "
            f"uses ({', '.join(f'{k}={made[k]!r:.60}' for k in wrong)}); make it with "
            "clf.embed(data), or pass the images instead."
        )
