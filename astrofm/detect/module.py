"""Training a detection network on PyTorch Lightning.

One :class:`DetectionModule` wraps the torchvision network: training steps sum
torchvision's four losses (RPN objectness and box regression, RoI classification and
box regression), validation computes mAP@0.5 with torchmetrics, and the best
validation epoch is kept by Lightning's ``ModelCheckpoint``. The same code runs on a
CPU, a GPU with mixed precision, or several GPUs with DDP.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from astrofm.detect.model import head_modules
from astrofm.errors import DatasetError
from astrofm.tuning import param_groups

__all__ = ["DetectionModule", "DetectionData", "AtomicCheckpointIO", "collate", "fit_network",
           "default_precision", "MONITOR"]

#: The validation metric that selects the checkpoint.
MONITOR = "val_map_50"


def collate(batch):
    """Images and targets as tuples: torchvision's detectors take lists of any sizes."""
    return tuple(zip(*batch, strict=True))


def default_precision(device: str = "auto") -> str:
    """Mixed precision on GPUs (bf16 where supported), full precision elsewhere."""
    if device == "cpu" or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


class DetectionModule(pl.LightningModule):
    """Lightning wrapper of a torchvision Faster R-CNN built on an astrofm backbone.

    Parameters
    ----------
    network : torchvision.models.detection.FasterRCNN
        From :func:`astrofm.detect.model.build_faster_rcnn`.
    lr : float
        Peak learning rate of AdamW (one-cycle schedule: warm-up, then cosine decay).
    weight_decay : float
        AdamW weight decay.
    layer_decay : float, optional
        Layer-wise learning-rate decay through the backbone's blocks
        (:func:`astrofm.tuning.param_groups`).
    warmup : float
        Share of the steps spent warming up.
    """

    def __init__(self, network, lr: float = 1e-4, weight_decay: float = 1e-4,
                 layer_decay: float | None = None, warmup: float = 0.1):
        super().__init__()
        from torchmetrics.detection import MeanAveragePrecision

        self.network = network
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.layer_decay, self.warmup = layer_decay, float(warmup)
        # Every detection of an image counts, not COCO's first 100.
        most = int(network.roi_heads.detections_per_img)
        # torchmetrics' own sync gathers per image, so it needs as many validation images
        # in every process; the images are gathered here instead (_gather_validation).
        self.val_map = MeanAveragePrecision(iou_thresholds=[0.5], backend="pycocotools",
                                            max_detection_thresholds=[1, 10, most],
                                            sync_on_compute=False)
        self.val_map.warn_on_many_detections = False
        self._val_outputs = []
        # Lightning keeps the modes modules arrive in; the network is built in eval mode.
        self.train()

    @property
    def backbone(self):
        """The astrofm backbone inside the network."""
        return self.network.backbone.backbone

    def train(self, mode: bool = True):
        """Train mode, except for a backbone with nothing to train.

        A frozen backbone stays in eval mode, so its features are the deterministic
        ones it gives at inference (no dropout, no drop-path).
        """
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.backbone.parameters()):
            self.backbone.eval()
        return self

    def forward(self, images, targets=None):
        """The network's output: losses with targets in train mode, detections otherwise."""
        return self.network(list(images), None if targets is None else list(targets))

    def training_step(self, batch, batch_idx):
        images, targets = batch
        losses = self.network(list(images), list(targets))
        loss = sum(losses.values())
        n = len(images)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=n)
        for name, value in losses.items():
            self.log(f"train_{name}", value, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        detections = self.network(list(images))
        for found, target in zip(detections, targets, strict=True):
            self._val_outputs.append(({k: v.cpu() for k, v in found.items()},
                                      {k: target[k].cpu() for k in ("boxes", "labels")}))

    def _gather_validation(self) -> list:
        """The validation outputs of every process, so each scores the whole set."""
        import torch.distributed as dist

        outputs, self._val_outputs = self._val_outputs, []
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return outputs
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, outputs)
        return [pair for part in everyone for pair in part]

    def on_validation_epoch_end(self):
        outputs = self._gather_validation()
        self.val_map.update([p for p, _ in outputs], [t for _, t in outputs])
        value = self.val_map.compute()["map_50"]
        # No true box in the validation images gives -1; that must not win selection.
        self.log(MONITOR, torch.clamp(value, min=0.0), prog_bar=True, sync_dist=True)
        self.val_map.reset()

    def configure_optimizers(self):
        groups = param_groups(self.backbone, head_modules(self.network), self.lr,
                              layer_decay=self.layer_decay, weight_decay=self.weight_decay)
        optimizer = torch.optim.AdamW(groups, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in groups], total_steps=total,
            pct_start=self.warmup, anneal_strategy="cos")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but a checkpoint file appears whole or not at all.

    A job killed while writing leaves the previous ``last.ckpt`` intact for ``resume``.
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        from astrofm.features.store import atomic_path

        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class DetectionData(pl.LightningDataModule):
    """The training and validation loaders, made once the processes of a job exist.

    Lightning gives each process its share of the shuffled training images. The
    validation images are shared out without the padding of a ``DistributedSampler``
    (which repeats images to even out the shares), so mAP@0.5, computed by every
    process on the outputs of all, is that of the validation set, each image once.
    """

    def __init__(self, train, val, *, batch_size: int, num_workers: int, seed: int):
        super().__init__()
        self.sets = {"train": train, "val": val}
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed

    def _loader(self, name, **options):
        from torch.utils.data import DataLoader

        return DataLoader(self.sets[name], batch_size=self.batch_size, collate_fn=collate,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, **options)

    def train_dataloader(self):
        return self._loader("train", shuffle=True,
                            generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self):
        from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

        size, rank = self.trainer.world_size, self.trainer.global_rank
        if size == 1:
            return self._loader("val")
        if len(self.sets["val"]) < size:
            # A process without validation images would leave the others waiting for it.
            raise DatasetError(f"val: {len(self.sets['val'])} images for {size} processes; "
                               "give at least one validation image per process (a larger "
                               "val set or val_fraction).")
        return self._loader("val", sampler=UnrepeatedDistributedSampler(
            self.sets["val"], num_replicas=size, rank=rank, shuffle=False))


def fit_network(network, train, val, *, epochs: int, batch_size: int, lr: float,
                weight_decay: float, layer_decay, warmup: float, seed: int, num_workers: int,
                placement: dict, precision, checkpoint_dir, resume: bool, progress: bool,
                max_steps: int, val_every: int) -> dict:
    """Train ``network`` on Lightning and load the weights of the best validation epoch.

    ``train`` and ``val`` are data sets of ``(tensor, target)`` pairs already in the
    network's input frame; ``placement`` holds ``device``, ``devices``, ``num_nodes``
    and ``strategy``; the other arguments are those of :meth:`Detector.fit`. With
    several processes every one ends with the same weights and history: those of
    the checkpoint that global rank 0 selected, which alone writes checkpoints.

    Returns
    -------
    dict
        ``epochs``, ``steps``, ``best_val_map_50`` (None when no validation ran, in
        which case the last weights stay), ``train_seconds``, ``train_images``,
        ``val_images``.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    from astrofm.trainer import is_global_zero, make_trainer

    module = DetectionModule(network, lr, weight_decay, layer_decay, warmup)
    data = DetectionData(train, val, batch_size=batch_size, num_workers=num_workers, seed=seed)
    with tempfile.TemporaryDirectory(prefix="astrofm-detect-") as scratch:
        folder = Path(checkpoint_dir) if checkpoint_dir is not None else Path(scratch)
        checkpoint = ModelCheckpoint(dirpath=str(folder), filename="best-{epoch}",
                                     monitor=MONITOR, mode="max", save_top_k=1, save_last=True)
        trainer = make_trainer(
            **placement, precision=precision or default_precision(placement["device"]),
            progress=progress, callbacks=[checkpoint], plugins=[AtomicCheckpointIO()],
            max_epochs=epochs, max_steps=max_steps, check_val_every_n_epoch=val_every,
            num_sanity_val_steps=0, log_every_n_steps=1)
        last = folder / "last.ckpt"
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            # A frozen backbone stays in eval mode on purpose (DetectionModule.train).
            warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")
            # max_steps may end training before any validation: the last weights stay.
            warnings.filterwarnings("ignore", ".*could not find the monitored key.*")
            trainer.fit(module, datamodule=data,
                        ckpt_path=str(last) if resume and last.exists() else None)
        seconds = time.perf_counter() - start
        # Rank 0 reads the checkpoint it wrote (the folder of a temporary one is its own)
        # and sends the weights to every process.
        state = None
        if checkpoint.best_model_path and is_global_zero(trainer):
            state = torch.load(checkpoint.best_model_path, map_location="cpu",
                               weights_only=True)["state_dict"]
        state = trainer.strategy.broadcast(state, src=0)
    if state is not None:
        module.load_state_dict(state)
    score = checkpoint.best_model_score
    history = {"epochs": int(trainer.current_epoch), "steps": int(trainer.global_step),
               "best_val_map_50": None if score is None else float(score),
               "train_seconds": round(seconds, 1), "train_images": len(train),
               "val_images": len(val)}
    return trainer.strategy.broadcast(history, src=0)
