"""The Lightning module of self-supervised pretraining, and the plain backbone it yields."""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import torch

__all__ = ["PretrainModule", "clone", "plain_backbone"]


def clone(backbone):
    """A deep copy of ``backbone`` that shares its spec.

    A BackboneSpec is frozen and holds a read-only mapping, which ``copy.deepcopy``
    cannot copy; being immutable, it is safely shared.
    """
    return copy.deepcopy(backbone, memo={id(backbone.spec): backbone.spec})


class PretrainModule(pl.LightningModule):
    """Train a method of :mod:`astrofm.pretrain.methods` with AdamW.

    Parameters
    ----------
    method : DINO or MAE
        The objective, holding the backbone.
    lr, weight_decay : float
        AdamW's learning rate and weight decay.
    """

    def __init__(self, method, lr: float, weight_decay: float):
        super().__init__()
        # Backbones are built in eval mode; Lightning keeps each submodule's mode.
        self.method = method.train()
        self.lr = lr
        self.weight_decay = weight_decay

    def training_step(self, batch, batch_idx):
        loss = self.method.loss(batch, self.current_epoch)
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=batch[0].shape[0], sync_dist=True)
        return loss

    def on_after_backward(self):
        self.method.after_backward(self.current_epoch)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.method.after_step(self.current_epoch)

    def configure_optimizers(self):
        params = [p for p in self.method.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


def plain_backbone(backbone):
    """A copy of ``backbone`` in the plain form of its spec, LoRA adapters merged.

    LoRA training leaves peft layers (``base_layer`` plus ``lora_A``/``lora_B``) and
    frozen batch norms in the module; the saved file must load into the spec as built
    by :func:`astrofm.backbones.load`, so the adapters are merged into the base weights
    and the state is copied into a freshly built backbone of the same options.

    Parameters
    ----------
    backbone : Backbone
        The trained backbone.

    Returns
    -------
    Backbone
        In eval mode, on the CPU.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    from astrofm import backbones

    trained = clone(backbone).cpu()
    for module in trained.model.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge()
    state = {key.replace(".base_layer.", "."): value
             for key, value in trained.model.state_dict().items() if "lora_" not in key}
    plain = backbones.load(backbone.spec.name, weights=None, **backbone.build_options)
    missing, unexpected = plain.model.load_state_dict(state, strict=False)
    # FrozenBatchNorm2d (frozen and LoRA tuning) has no batch counter; nothing reads it
    # since batch norm uses a fixed momentum.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"merged state of {backbone.spec.name!r} does not fit its spec: "
                           f"missing {missing}, unexpected {unexpected}")
    return plain.eval()
