"""End-to-end training and batch prediction on PyTorch Lightning.

:class:`ClassifierNet` is the whole model (backbone, pooling, scaler, head);
:class:`ClassifierModule` is its Lightning module; :func:`train` runs a Trainer with
model selection and early stopping on the validation split only, and :func:`predict`
runs one over images that may include unreadable files. The same code runs on a CPU,
a GPU, or several processes on one or many nodes (Lightning's DDP), with mixed precision
where the device offers it.

With several processes each one trains on its share of every epoch's batches
(Lightning's ``DistributedSampler``) and DDP averages their gradients; validation scores
each image exactly once (:class:`_Splits`), and the metrics are reduced over all
processes before model selection reads them, so every process keeps the same epoch and
ends with the same weights.
"""

from __future__ import annotations

import tempfile

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassF1Score

from astrofm.errors import SplitError, TrainingError
from astrofm.trainer import is_global_zero, make_trainer
from astrofm.tuning import BackboneWarmup, param_groups

__all__ = ["ClassifierNet", "ClassifierModule", "CodedItems", "train", "predict", "MONITOR",
           "placed_trainer"]

#: What model selection and early stopping watch.
MONITOR = "val_macro_f1"


class ClassifierNet(nn.Module):
    """Images to logits: backbone features (pooled), an optional scaler, the head.

    Parameters
    ----------
    backbone : Backbone
        The (tuned) backbone.
    head : torch.nn.Module
        Features to logits.
    pooling : str
        Pooling of the backbone features.
    scaler : torch.nn.Module, optional
        Applied to the features before the head (a fitted
        :class:`~astrofm.classify.heads.Standardize`); identity by default.
    """

    def __init__(self, backbone, head: nn.Module, pooling: str, scaler: nn.Module | None = None):
        super().__init__()
        self.backbone, self.head, self.pooling = backbone, head, pooling
        self.scaler = scaler if scaler is not None else nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of a batch of model-ready images."""
        return self.backbone.features(x, pooling=self.pooling)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from pooled features."""
        return self.head(self.scaler(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


class CodedItems(Dataset):
    """``(tensor, code)`` pairs: a data set's images with the classifier's label codes.

    Parameters
    ----------
    dataset : ImageDataset or Subset
        Yields ``(tensor, label)``; its own label is replaced by ``codes[i]``.
    codes : array of int
        Labels in the classifier's class order.
    memoize : bool
        Keep each preprocessed tensor after its first use. Preprocessing is
        deterministic (augmentation comes after it, on the batch), so later epochs
        then skip reading and preprocessing.
    """

    def __init__(self, dataset, codes, memoize: bool = False):
        self.dataset, self.codes = dataset, np.asarray(codes, dtype=np.int64)
        self.memo = {} if memoize else None

    def __len__(self):
        return len(self.codes)

    def __getitem__(self, i):
        if self.memo is not None and i in self.memo:
            return self.memo[i], int(self.codes[i])
        tensor = self.dataset[i][0]
        if self.memo is not None:
            self.memo[i] = tensor
        return tensor, int(self.codes[i])


class ClassifierModule(pl.LightningModule):
    """Lightning module of a :class:`ClassifierNet`.

    Parameters
    ----------
    net : ClassifierNet
        The model; what :func:`astrofm.tuning.apply_tuning` left trainable trains, with
        the head.
    n_classes : int
        Number of classes.
    weight : torch.Tensor, optional
        Class weights of the cross-entropy.
    augment : torch.nn.Module, optional
        Applied to each training batch (e.g. :class:`~astrofm.classify.augment.SkyAugment`).
    optimizer : {"adamw", "sgd"}
        AdamW with a cosine learning-rate schedule, or SGD (momentum 0.9) at a constant
        rate (the paper's recipe).
    lr, weight_decay : float
        Learning rate of the head (and of the backbone without ``layer_decay``); weight
        decay.
    layer_decay : float, optional
        Layer-wise learning-rate decay, see :func:`astrofm.tuning.param_groups`.
    epochs : int
        Length of the cosine schedule.
    """

    def __init__(self, net: ClassifierNet, n_classes: int, *, weight=None, augment=None,
                 optimizer: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.05,
                 layer_decay: float | None = None, epochs: int = 30):
        super().__init__()
        self.net = net
        self.augment = augment if augment is not None else nn.Identity()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight))
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.layer_decay, self.epochs = layer_decay, epochs
        # Metric objects, not values: Lightning reduces their state over all processes
        # before it reads them, so the score is that of the whole validation split.
        self.val_f1 = MulticlassF1Score(num_classes=n_classes, average="macro")
        self.val_loss = MeanMetric()
        self.epoch_history = {"train_loss": [], "val_loss": [], MONITOR: []}

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(self.augment(x)), y, weight=self.weight)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(y), sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.val_f1.update(logits.argmax(1), y)
        self.val_loss.update(F.cross_entropy(logits, y, weight=self.weight), weight=len(y))
        self.log("val_loss", self.val_loss, on_epoch=True, prog_bar=True)
        self.log(MONITOR, self.val_f1, on_epoch=True, prog_bar=True)

    def on_train_epoch_end(self):
        for name, values in self.epoch_history.items():
            value = self.trainer.callback_metrics.get(name)
            if value is not None:
                values.append(float(value))

    def predict_step(self, batch, batch_idx):
        x, index, error, _, _ = batch
        probabilities = self.net(x).float().softmax(1).cpu().numpy()
        error = np.asarray(error, dtype=str)
        probabilities[error != ""] = np.nan
        return {"index": index.cpu().numpy(), "probability": probabilities, "error": error}

    def configure_optimizers(self):
        groups = param_groups(self.net.backbone, nn.ModuleList([self.net.head, self.net.scaler]),
                              self.lr, self.layer_decay, self.weight_decay)
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=0.9)
        optimizer = torch.optim.AdamW(groups, lr=self.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def placed_trainer(options, callbacks=(), **settings):
    """A Trainer placed by a classifier's options (device, devices, num_nodes, strategy).

    Parameters
    ----------
    options : Options
        The classifier's checked options.
    callbacks : sequence of lightning.pytorch.Callback
    **settings
        Further ``Trainer`` arguments.

    Returns
    -------
    lightning.pytorch.Trainer
    """
    o = options
    return make_trainer(device=o.device, devices=o.devices, num_nodes=o.num_nodes,
                        strategy=o.strategy, precision=o.precision, progress=o.progress,
                        callbacks=callbacks, **settings)


def _loader(items, options, shuffle: bool, seed: int = 0, sampler=None):
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(items, batch_size=options.batch_size, shuffle=shuffle,
                      num_workers=options.num_workers, generator=generator, sampler=sampler,
                      persistent_workers=options.num_workers > 0,
                      pin_memory=torch.cuda.is_available())


class _Splits(pl.LightningDataModule):
    """Training and validation loaders, built once Lightning knows the process's rank.

    Training batches are shuffled (Lightning gives each process its share). Lightning's
    own validation sampler pads the split with repeated images so that every process
    gets as many; validation here gives process ``r`` images ``r, r + W, ...`` instead,
    so each image counts once in the reduced macro F1.
    """

    def __init__(self, train_items, val_items, options, unlabeled_items=None):
        super().__init__()
        self.train_items, self.val_items, self.options = train_items, val_items, options
        self.unlabeled_items = unlabeled_items

    def train_dataloader(self):
        loader = _loader(self.train_items, self.options, True, self.options.seed)
        if self.unlabeled_items is None:
            return loader
        from astrofm.classify.semi import combined_loader

        return combined_loader(loader, self.unlabeled_items, self.options)

    def val_dataloader(self):
        from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

        world = self.trainer.world_size
        sampler = None if world == 1 else UnrepeatedDistributedSampler(
            self.val_items, num_replicas=world, rank=self.trainer.global_rank, shuffle=False)
        return _loader(self.val_items, self.options, False, sampler=sampler)


def train(module: ClassifierModule, train_items, val_items, options, warmup: int = 0,
          unlabeled_items=None) -> dict:
    """Fit ``module`` and restore its best epoch on the validation split.

    Parameters
    ----------
    module : ClassifierModule
        The module to train.
    train_items, val_items : CodedItems
        Training and validation pairs.
    options : Options
        The classifier's options (epochs, batch size, device, patience, seed ...).
    warmup : int
        Head-only epochs before the backbone trains (:class:`~astrofm.tuning.BackboneWarmup`).
    unlabeled_items : Dataset, optional
        Unlabelled images for a :class:`~astrofm.classify.semi.SemiModule`, batched
        with the labelled ones by :func:`~astrofm.classify.semi.combined_loader`.

    Returns
    -------
    dict
        Per epoch ``train_loss``, ``val_loss`` and ``val_macro_f1``; ``best_epoch``,
        ``best_val_macro_f1``, ``epochs`` run and ``seconds``.
    """
    import time

    pl.seed_everything(options.seed, workers=True, verbose=False)
    with tempfile.TemporaryDirectory(prefix="astrofm-ckpt-") as tmp:
        checkpoint = ModelCheckpoint(dirpath=options.checkpoint_dir or tmp, filename="best",
                                     monitor=MONITOR, mode="max", save_top_k=1,
                                     save_weights_only=True)
        callbacks = [checkpoint]
        if warmup:
            callbacks.append(BackboneWarmup(module.net.backbone, warmup))
        if options.patience is not None:
            callbacks.append(EarlyStopping(monitor=MONITOR, mode="max",
                                           patience=options.patience))
        trainer = placed_trainer(options, callbacks, max_epochs=options.epochs,
                                 enable_checkpointing=True, num_sanity_val_steps=0)
        if len(val_items) < trainer.world_size:
            raise SplitError(f"val: {len(val_items)} images for {trainer.world_size} "
                             "processes; each process scores a share of the validation "
                             "split, so give at least one image per process (a larger "
                             "val_fraction or val split), or fewer devices.")
        # Backbones are built in eval mode and Lightning keeps the modes it is given, so
        # batch norm and dropout would never see training mode.
        module.train()
        start = time.perf_counter()
        trainer.fit(module, datamodule=_Splits(train_items, val_items, options,
                                               unlabeled_items))
        seconds = time.perf_counter() - start
        if not checkpoint.best_model_path:
            raise TrainingError("training stopped before the first validation; give "
                                "epochs >= 1 and a non-empty validation split.")
        # Only global rank 0 wrote the checkpoint, perhaps on a disk other nodes do not
        # see: it reads the best epoch and sends it to every process.
        state = None
        if is_global_zero(trainer):
            state = torch.load(checkpoint.best_model_path, map_location="cpu",
                               weights_only=True)
        state = trainer.strategy.broadcast(state)
        module.load_state_dict(state["state_dict"])
        best_epoch = int(state["epoch"])
    module.cpu().eval()
    return {**module.epoch_history, "best_epoch": best_epoch,
            "best_val_macro_f1": float(checkpoint.best_model_score),
            "epochs": trainer.current_epoch, "seconds": seconds}


def predict(module: ClassifierModule, dataset, options) -> dict:
    """Class probabilities of every item of ``dataset`` (transform already set).

    Items that cannot be read or preprocessed get NaN probabilities and their error
    message instead of ending the run.

    Returns
    -------
    dict
        ``probability`` ``(N, K)`` and ``error`` ``(N,)``, in data-set order.
    """
    from astrofm.features.extract import TolerantItems, first_shape

    items = TolerantItems(dataset, np.arange(len(dataset)), first_shape(dataset))
    module.eval()
    trainer = placed_trainer(options, enable_checkpointing=False)
    parts = trainer.predict(module, _loader(items, options, False))
    module.cpu()
    if trainer.world_size > 1 and torch.distributed.is_initialized():
        # Each process predicted its share; every caller gets all of them.
        shares = [None] * trainer.world_size
        torch.distributed.all_gather_object(shares, parts)
        parts = [part for share in shares for part in share]
    order = np.argsort(np.concatenate([p["index"] for p in parts]))
    return {"probability": np.concatenate([p["probability"] for p in parts])[order],
            "error": np.concatenate([p["error"] for p in parts])[order]}
