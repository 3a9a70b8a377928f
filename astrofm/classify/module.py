"""End-to-end training and batch prediction on PyTorch Lightning.

:class:`ClassifierNet` is the whole model (backbone, pooling, scaler, head);
:class:`ClassifierModule` is its Lightning module; :func:`train` runs a Trainer with
model selection and early stopping on the validation split only, and :func:`predict`
runs one over images that may include unreadable files. The same code runs on a CPU,
a GPU or several GPUs, with mixed precision where the device offers it.
"""

from __future__ import annotations

import logging
import tempfile

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import MulticlassF1Score

from astrofm.errors import TrainingError
from astrofm.tuning import BackboneWarmup, param_groups

__all__ = ["ClassifierNet", "ClassifierModule", "CodedItems", "train", "predict", "MONITOR"]

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
        self.val_f1 = MulticlassF1Score(num_classes=n_classes, average="macro")
        self.epoch_history = {"train_loss": [], "val_loss": [], MONITOR: []}

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(self.augment(x)), y, weight=self.weight)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.val_f1.update(logits.argmax(1), y)
        self.log("val_loss", F.cross_entropy(logits, y, weight=self.weight), on_epoch=True,
                 prog_bar=True, batch_size=len(y))
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


def _trainer(options, callbacks, max_epochs=None):
    # Lightning announces hardware and advertises services at info level on every run.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return pl.Trainer(accelerator=options.device, devices=options.devices,
                      precision=options.precision, max_epochs=max_epochs, logger=False,
                      callbacks=callbacks, enable_checkpointing=any(
                          isinstance(c, ModelCheckpoint) for c in callbacks),
                      enable_progress_bar=options.progress, enable_model_summary=False,
                      num_sanity_val_steps=0)


def _loader(items, options, shuffle: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(items, batch_size=options.batch_size, shuffle=shuffle,
                      num_workers=options.num_workers, generator=generator,
                      persistent_workers=options.num_workers > 0,
                      pin_memory=torch.cuda.is_available())


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
        trainer = _trainer(options, callbacks, options.epochs)
        # Backbones are built in eval mode and Lightning keeps the modes it is given, so
        # batch norm and dropout would never see training mode.
        module.train()
        start = time.perf_counter()
        loader = _loader(train_items, options, True, options.seed)
        if unlabeled_items is not None:
            from astrofm.classify.semi import combined_loader

            loader = combined_loader(loader, unlabeled_items, options)
        trainer.fit(module, loader, _loader(val_items, options, False))
        seconds = time.perf_counter() - start
        if not checkpoint.best_model_path:
            raise TrainingError("training stopped before the first validation; give "
                                "epochs >= 1 and a non-empty validation split.")
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
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
    parts = _trainer(options, []).predict(module, _loader(items, options, False))
    module.cpu()
    order = np.argsort(np.concatenate([p["index"] for p in parts]))
    return {"probability": np.concatenate([p["probability"] for p in parts])[order],
            "error": np.concatenate([p["error"] for p in parts])[order]}
