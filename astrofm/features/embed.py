"""``astrofm.embed``: feature vectors for many images, as a resumable batch job."""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.errors import ConfigError

__all__ = ["embed", "as_dataset", "with_transform", "write_table", "failed_rows", "TABLE_FORMATS"]

log = logging.getLogger("astrofm.embed")

#: Output formats by file suffix.
TABLE_FORMATS = {".fits": "fits", ".fit": "fits", ".h5": "hdf5", ".hdf5": "hdf5"}
_CATALOGUE_SUFFIXES = (".csv", ".ecsv")


def as_dataset(inputs, hdu=None):
    """A data set from what :func:`embed` accepts.

    Parameters
    ----------
    inputs : ImageDataset, Table, path or sequence
        A data set (used as is), an astropy Table or a ``.csv`` / ``.ecsv`` catalogue
        with a ``path`` column (a :class:`~astrofm.data.CatalogDataset`), or one input
        or a list of inputs that :func:`astrofm.load` takes.
    hdu : int or str, optional
        HDU read from FITS files given as a list.
    """
    from astrofm.data import CatalogDataset, ListDataset
    from astrofm.features.adapt import as_items

    if hasattr(inputs, "load") and hasattr(inputs, "__getitem__"):
        return inputs
    if isinstance(inputs, Table) or (
        isinstance(inputs, str | os.PathLike)
        and str(inputs).lower().endswith(_CATALOGUE_SUFFIXES)
    ):
        return CatalogDataset(inputs)
    return ListDataset(as_items(inputs), hdu=hdu)


def with_transform(dataset, transform):
    """A shallow copy of ``dataset`` (or of a subset's parent) using ``transform``."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        out = copy.copy(dataset)
        out.dataset = with_transform(dataset.dataset, transform)
        return out
    out = copy.copy(dataset)
    out.transform = transform
    return out


def _fingerprint(spec, backbone, pooling, transform, dataset) -> dict:
    from astrofm.features.fingerprint import backbone_digest, inputs_digest

    # The parameters themselves, not a reference to them: a cache must never serve
    # features of another network that happens to have the same name and weights option.
    return {
        "model": spec.name,
        "weights": getattr(backbone, "weights_origin", "unknown"),
        "digest": backbone_digest(backbone),
        "pooling": pooling,
        "preprocessing": transform.to_dict() if hasattr(transform, "to_dict") else repr(transform),
        "inputs": inputs_digest(dataset),
        "n": len(dataset),
    }


def table_format(path) -> str:
    """The astropy format of a feature table file, from its suffix.

    Raises
    ------
    ConfigError
        For a suffix other than ``.fits``, ``.h5`` or ``.hdf5``.
    """
    fmt = TABLE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"output={path}: give a file ending in one of {sorted(TABLE_FORMATS)}.")
    return fmt


def failed_rows(table: Table) -> np.ndarray:
    """Indices of the rows of a feature table whose image could not be read.

    A table read back from FITS gives the ``error`` column of a run without failures as
    masked or byte strings; every empty, masked or blank entry counts as no error.
    """
    errors = table["error"]
    if hasattr(errors, "filled"):
        errors = errors.filled("")
    errors = np.char.strip(np.asarray(errors).astype(str))
    return np.flatnonzero(errors != "")


def write_table(table: Table, path) -> Path:
    """Write a feature table atomically to FITS or HDF5, chosen by the suffix."""
    from astrofm.features.store import atomic_path

    path = Path(path)
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "hdf5":
            table.write(tmp, format="hdf5", path="features", serialize_meta=True)
        else:
            table.write(tmp, format="fits")
    return path


def embed(inputs, model: str = "dinov2", *, pooling: str | None = None, weights="pretrained",
          size: int | None = None, preprocessing=None, batch_size: int = 32,
          num_workers: int = 1, device: str = "auto", devices="auto", num_nodes: int = 1,
          strategy="auto", precision: str = "32-true", output=None, cache=None,
          progress: bool = True, hdu=None) -> Table:
    """Feature vectors of many images, one table row per image.

    The job runs on PyTorch Lightning (``Trainer.predict``), so the same call uses a
    CPU, a GPU, or several processes on one or many nodes (each process embeds its share
    of the images, none twice). Each batch is written to a cache folder as it is done; a
    run that is stopped and started again computes only the missing images and gives the
    same table. Inputs that cannot be read are logged and reported in the ``error``
    column (their features are NaN) instead of ending the run.

    With several processes, every process writes its shards into the same cache folder,
    which must therefore be on a file system they all share; global rank 0 writes
    ``output`` once all shards are there, and every process returns the same table.

    Parameters
    ----------
    inputs : sequence, path, Table or ImageDataset
        Files or arrays, a catalogue (``.csv``/``.ecsv``/Table with a ``path``
        column) or a data set; see :func:`as_dataset`.
    model : str or Backbone
        Registry name of the backbone, or a module built with
        :func:`astrofm.backbones.load`.
    pooling : str, optional
        One of the backbone's poolings (``"cls"``, ``"mean"``, ``"cls+mean"``,
        ``"pooler"``); its default when omitted.
    weights : "pretrained", path, None or "random"
        As for :func:`astrofm.backbones.load`: the published weights by default;
        random initialisation only when asked for, and then recorded in the table.
    size : int, optional
        Input side for the default preprocessing.
    preprocessing : Step, optional
        Preprocessing to use instead of the default (or of the data set's own).
    batch_size, num_workers : int
        DataLoader settings, per process: several processes each take ``batch_size``
        images at a time. One worker by default: it reads and preprocesses the
        next batches while the model runs. On two cores (ResNet-50 at 224) that
        measured 1.04x the bare forward pass's images/s, against 0.96x with none and
        0.84x with two, which take cores from the forward pass (benchmarks/embed.py);
        0 keeps everything in this process.
    device : str
        Lightning's ``accelerator``: ``"auto"``, ``"cpu"``, ``"gpu"`` ...
    devices : str, int or list of int
        Lightning's ``devices`` per node: ``"auto"``, a count, -1 for all, or indices.
    num_nodes : int
        Number of nodes (machines) of a multi-node job, e.g. under SLURM or ``torchrun``.
    strategy : str
        Lightning's ``strategy``; ``"auto"`` is DDP with more than one device.
    precision : str
        Lightning precision, e.g. ``"32-true"``, ``"bf16-mixed"``, ``"16-mixed"``.
    output : str or path, optional
        Where to write the table (``.fits``, ``.h5``/``.hdf5``), atomically.
    cache : str or path, optional
        Folder of per-batch shards that makes the run resumable; default
        ``<output>.parts`` beside the output (removed once the table is written), or a
        temporary folder when there is no output (one process only: several processes
        need ``output`` or ``cache`` to share their shards). A run that fails keeps the folder
        only when it holds finished shards that a rerun can resume from (never the
        temporary one); shards are tied to the backbone's parameters, so a resumed
        run never mixes two networks.
    progress : bool
        Show a progress bar.
    hdu : int or str, optional
        HDU read from FITS files given as a list.

    Returns
    -------
    astropy.table.Table
        Columns ``source``, ``feature`` (N, D), ``error`` (empty when fine), ``ra`` and
        ``dec`` (degrees, centre of the processed image; NaN without a WCS), and
        ``label`` and ``class_name`` when the inputs carry labels. ``meta`` records the
        model, where its weights came from (``WEIGHTS``: ``"pretrained"``, a file or
        ``"random (seed 0)"``), the digest of its parameters, pooling and preprocessing.
    """
    from astrofm.features.adapt import cached_backbone, default_preprocessing, resolve_model
    from astrofm.features.extract import FeatureModule
    from astrofm.features.store import ShardStore
    from astrofm.runtime import check_loop
    from astrofm.trainer import barrier, is_global_zero, make_trainer

    placement = check_loop(device=device, precision=precision, num_workers=num_workers,
                           devices=devices, num_nodes=num_nodes, strategy=strategy)
    spec, backbone = resolve_model(model, weights)
    pooling = pooling or spec.default_pooling
    if pooling not in spec.poolings or pooling == "tokens":
        vector = [p for p in spec.poolings if p != "tokens"]
        raise ConfigError(f"pooling={pooling!r}: {spec.name!r} gives one vector per image "
                          f"with {vector}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r}: give a positive number of images.")
    if output is not None:
        table_format(output)
    trainer = make_trainer(device=device, precision=precision, progress=progress,
                           enable_checkpointing=False, **placement)
    if trainer.world_size > 1 and output is None and cache is None:
        raise ConfigError(f"devices={devices!r}, num_nodes={num_nodes!r} run "
                          f"{trainer.world_size} processes, which share their results through "
                          "files: give output= or cache= on a file system they all reach.")
    dataset = as_dataset(inputs, hdu=hdu)
    transform = preprocessing or getattr(dataset, "transform", None) or default_preprocessing(
        spec, size=size)
    dataset = with_transform(dataset, transform)
    backbone = backbone or cached_backbone(spec.name, weights)
    fingerprint = _fingerprint(spec, backbone, pooling, transform, dataset)

    own_cache = cache is None
    if own_cache:
        resumable = output is not None
        cache = Path(f"{output}.parts") if resumable else Path(tempfile.mkdtemp(prefix="astrofm-"))
    else:
        cache, resumable = Path(cache), True
    created = own_cache or not cache.exists()
    store = ShardStore(cache, fingerprint)
    try:
        _predict(trainer, FeatureModule(backbone, pooling), dataset, store,
                 batch_size=batch_size, num_workers=num_workers)
        # Every process reads all shards, so each returns the whole table to its caller.
        table = _table(dataset, _complete(store, len(dataset)), fingerprint)
        if is_global_zero(trainer):
            for i in failed_rows(table):
                log.warning("%s: %s", table["source"][i], table["error"][i])
            if output is not None:
                write_table(table, output)
        # No process may return, nor rank 0 remove the cache, before all have read it.
        barrier(trainer, "astrofm.embed.table")
    except BaseException:
        # Keep only what a rerun can resume from; an empty or unreachable cache is debris.
        if created and is_global_zero(trainer) and not (resumable and store.shards()):
            shutil.rmtree(cache, ignore_errors=True)
        raise
    if own_cache and is_global_zero(trainer):
        shutil.rmtree(cache, ignore_errors=True)
    return table


def _predict(trainer, module, dataset, store, *, batch_size, num_workers) -> None:
    """Embed the images ``store`` lacks into it, each process its share; then wait for all."""
    import torch
    from torch.utils.data import DataLoader

    from astrofm.features.extract import ShardWriter, TolerantItems, first_shape
    from astrofm.trainer import barrier

    # Every process reads the same finished shards here: none writes before all have
    # joined the process group inside predict, so all agree on what is left to do.
    pending = np.setdiff1d(np.arange(len(dataset)), store.done())
    if 0 < len(pending) < len(dataset):
        log.info("resuming: %d of %d images left", len(pending), len(dataset))
    items = TolerantItems(dataset, pending, first_shape(dataset))
    loader = DataLoader(items, batch_size=batch_size, num_workers=num_workers,
                        persistent_workers=False, pin_memory=torch.cuda.is_available())
    trainer.callbacks.append(ShardWriter(store))
    # Run even with nothing left: predict is where the processes join up, and the
    # barriers that follow need them joined. Lightning warns of the empty loader of a
    # finished run, which is expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Total length of `DataLoader` across ranks is zero")
        trainer.predict(module, loader, return_predictions=False)
    barrier(trainer, "astrofm.embed.shards")


def _complete(store, n: int) -> dict:
    """The shards' columns, checked to cover all ``n`` images."""
    columns = store.read()
    missing = np.setdiff1d(np.arange(n), columns["index"])
    if len(missing):
        raise ConfigError(f"cache={store.folder}: {len(missing)} of {n} images have no "
                          "features there after every process finished; with several nodes, "
                          "put the output or cache on a file system all nodes share.")
    return columns


def _table(dataset, columns, fingerprint) -> Table:
    index = columns["index"]
    table = Table()
    table["source"] = [dataset.sources[i] for i in index]
    # copy=False: at survey size the features are most of the memory a run holds.
    table.add_column(columns["features"].astype(np.float32, copy=False), name="feature",
                     copy=False)
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        labels = np.asarray(labels)[index]
        table["label"] = labels
        table["class_name"] = [str(dataset.classes[k]) for k in labels]
    table["ra"] = columns["ra"].astype(float)
    table["dec"] = columns["dec"].astype(float)
    table["error"] = columns["error"].astype(str)
    table.meta.update({
        "MODEL": fingerprint["model"],
        "WEIGHTS": fingerprint["weights"],
        "WDIGEST": fingerprint["digest"],
        "POOLING": fingerprint["pooling"],
        "PREPROC": json.dumps(fingerprint["preprocessing"], default=str),
    })
    return table
