"""Self-supervised objectives on an astrofm backbone, from lightly's losses and heads.

:class:`DINO` (self-distillation without labels, Caron et al. 2021) works on any backbone,
ViT or CNN, through its pooled features. :class:`MAE` (masked autoencoding, He et al.
2022) continues a timm ViT's pretraining: lightly's ``MaskedVisionTransformerTIMM``
wraps the very same timm module, so masking exists only inside this training
objective; the backbone's own forward pass (and the saved weights) never masks.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DINO", "MAE"]

class DINO(nn.Module):
    """DINO's student and momentum teacher around one backbone.

    Parameters
    ----------
    backbone : Backbone
        The student's backbone, already tuned (its trainable parameters train).
    epochs : int
        Length of the run, for the teacher momentum's cosine schedule.
    n_local, hidden_dim, bottleneck_dim, output_dim, momentum, teacher_temp,
    warmup_teacher_temp_epochs
        See :data:`astrofm.pretrain.config.METHODS`; the head and loss are lightly's
        ``DINOProjectionHead`` and ``DINOLoss``.
    """

    def __init__(self, backbone, epochs: int, *, n_local, hidden_dim, bottleneck_dim,
                 output_dim, momentum, teacher_temp, warmup_teacher_temp_epochs):
        from lightly.loss import DINOLoss
        from lightly.models.modules import DINOProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        from astrofm.pretrain.module import clone

        super().__init__()
        dim = backbone.spec.feature_dim
        self.backbone = backbone
        self.head = DINOProjectionHead(dim, hidden_dim, bottleneck_dim, output_dim,
                                       freeze_last_layer=1)
        self.teacher_backbone = clone(backbone)
        self.teacher_head = DINOProjectionHead(dim, hidden_dim, bottleneck_dim, output_dim)
        self.teacher_head.load_state_dict(self.head.state_dict())
        deactivate_requires_grad(self.teacher_backbone)
        deactivate_requires_grad(self.teacher_head)
        self.criterion = DINOLoss(output_dim=output_dim, warmup_teacher_temp=teacher_temp,
                                  teacher_temp=teacher_temp,
                                  warmup_teacher_temp_epochs=warmup_teacher_temp_epochs)
        self.epochs = epochs
        self.momentum = momentum

    def loss(self, views: list[torch.Tensor], epoch: int) -> torch.Tensor:
        """DINO's loss: teacher on the two global views, student on every view."""
        with torch.no_grad():
            teacher = [self.teacher_head(self.teacher_backbone.features(v)) for v in views[:2]]
        student = [self.head(self.backbone.features(v)) for v in views]
        return self.criterion(teacher, student, epoch=epoch)

    def after_backward(self, epoch: int) -> None:
        """Keep the head's last layer fixed during the first epoch, as DINO does."""
        self.head.cancel_last_layer_gradients(epoch)

    def after_step(self, epoch: int) -> None:
        """Move the teacher towards the student (cosine momentum schedule)."""
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        m = cosine_schedule(epoch, self.epochs, self.momentum, 1.0)
        update_momentum(self.backbone, self.teacher_backbone, m)
        update_momentum(self.head, self.teacher_head, m)


class MAE(nn.Module):
    """Masked autoencoding of a timm ViT backbone with lightly's decoder.

    Parameters
    ----------
    backbone : Backbone
        A timm ViT (:func:`astrofm.pretrain.config.check_mae`), already tuned.
    size : int
        Side of the training views; the decoder's position embeddings are built for it.
    mask_ratio, decoder_dim, decoder_depth, decoder_heads
        See :data:`astrofm.pretrain.config.METHODS`.
    """

    def __init__(self, backbone, size: int, *, mask_ratio, decoder_dim, decoder_depth,
                 decoder_heads):
        from lightly.models.modules import MAEDecoderTIMM, MaskedVisionTransformerTIMM

        super().__init__()
        spec = backbone.spec
        self.backbone = backbone
        # "skip": keep the backbone's own weights and position embeddings.
        self.encoder = MaskedVisionTransformerTIMM(
            vit=backbone.model, weight_initialization="skip", pos_embed_initialization="skip")
        h, w = spec.token_grid(size, size)
        self.sequence_length = h * w + 1
        self.patch_size = spec.patch_size
        self.mask_ratio = mask_ratio
        self.decoder = MAEDecoderTIMM(
            num_patches=h * w, patch_size=spec.patch_size, in_chans=spec.in_channels,
            embed_dim=spec.feature_dim, decoder_embed_dim=decoder_dim,
            decoder_depth=decoder_depth, decoder_num_heads=decoder_heads)

    def loss(self, views: list[torch.Tensor], epoch: int) -> torch.Tensor:
        """Mean squared error of the reconstructed masked patches."""
        from lightly.models import utils

        images = views[0]
        self.backbone.check_input(images)
        n = images.shape[0]
        keep, masked = utils.random_token_mask(size=(n, self.sequence_length),
                                               mask_ratio=self.mask_ratio, device=images.device)
        encoded = self.encoder.encode(images=images, idx_keep=keep)
        tokens = utils.repeat_token(self.decoder.mask_token, (n, self.sequence_length))
        tokens = utils.set_at_index(tokens, keep, self.decoder.embed(encoded).type_as(tokens))
        predicted = self.decoder.predict(utils.get_at_index(self.decoder.decode(tokens), masked))
        # Patch indices are token indices less the class token.
        target = utils.get_at_index(utils.patchify(images, self.patch_size), masked - 1)
        return nn.functional.mse_loss(predicted, target)

    def after_backward(self, epoch: int) -> None:
        """Nothing to do for MAE."""

    def after_step(self, epoch: int) -> None:
        """Nothing to do for MAE."""
