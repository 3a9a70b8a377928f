"""Batch feature extraction on Lightning: the module, the error-tolerant items, the writer."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import Dataset

from astrofm.data.base import image_to_tensor
from astrofm.errors import AstrofmError, ConfigError

__all__ = ["TolerantItems", "FeatureModule", "ShardWriter", "process", "first_shape"]

# What a broken input may raise while being read or preprocessed; anything else is a bug
# and should stop the run.
INPUT_ERRORS = (AstrofmError, OSError, ValueError)


def process(dataset, index: int):
    """Item ``index`` read, transformed and made a tensor, with its centre on the sky.

    Returns
    -------
    tensor : torch.Tensor
        ``(C, H, W)``.
    ra, dec : float
        Degrees (ICRS) of the centre of the processed image; NaN without a WCS.
    """
    image = dataset.load(index)
    if dataset.transform is not None:
        image = dataset.transform(image)
    ra = dec = np.nan
    if image.original_wcs is not None:
        centre = image.to_sky(image.width / 2, image.height / 2).icrs
        ra, dec = float(centre.ra.deg), float(centre.dec.deg)
    return image_to_tensor(image), ra, dec


def first_shape(dataset) -> tuple[int, ...]:
    """Tensor shape of the first item that can be processed."""
    first_error = None
    for index in range(len(dataset)):
        try:
            return tuple(process(dataset, index)[0].shape)
        except INPUT_ERRORS as err:
            first_error = first_error or f"{dataset.sources[index]}: {err}"
    raise ConfigError(f"none of the {len(dataset)} inputs could be read and preprocessed; "
                      f"the first error was {first_error}")


class TolerantItems(Dataset):
    """Items ``indices`` of ``dataset`` as ``(tensor, index, error, ra, dec)``.

    An input that cannot be read or preprocessed gives a zero tensor of
    ``blank_shape`` and the error message, so one bad file does not end a long run.
    """

    def __init__(self, dataset, indices, blank_shape):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.blank_shape = tuple(blank_shape)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        index = int(self.indices[i])
        try:
            tensor, ra, dec = process(self.dataset, index)
        except INPUT_ERRORS as err:
            return self._blank(index, f"{type(err).__name__}: {err}")
        if tuple(tensor.shape) != self.blank_shape:
            return self._blank(index, f"preprocessing gave shape {tuple(tensor.shape)}, "
                               f"expected {self.blank_shape}; give the images one size")
        return tensor, index, "", ra, dec

    def _blank(self, index, error):
        return torch.zeros(self.blank_shape), index, error, np.nan, np.nan


class FeatureModule(pl.LightningModule):
    """A frozen backbone that pools one feature vector (or token map) per image."""

    def __init__(self, backbone, pooling: str):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling

    def forward(self, x):
        return self.backbone.features(x, pooling=self.pooling)

    def predict_step(self, batch, batch_idx):
        x, index, error, ra, dec = batch
        with torch.inference_mode():
            features = self(x).float().cpu().numpy()
        error = np.asarray(error, dtype=str)
        # Inputs that could not be read went through as zeros; their rows are missing.
        features[error != ""] = np.nan
        return {"index": index.cpu().numpy(), "features": features, "error": error,
                "ra": ra.cpu().numpy(), "dec": dec.cpu().numpy()}


class ShardWriter(BasePredictionWriter):
    """Writes each predicted batch to a :class:`~astrofm.features.store.ShardStore`."""

    def __init__(self, store):
        super().__init__(write_interval="batch")
        self.store = store

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch,
                           batch_idx, dataloader_idx):
        tag = f"-r{trainer.global_rank}" if trainer.world_size > 1 else ""
        self.store.write(tag=tag, **prediction)
