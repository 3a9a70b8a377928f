"""Feature pyramids over any :class:`~astrofm.backbones.Backbone`, as torchvision wants them.

torchvision's detection heads take a module with an ``out_channels`` attribute that
returns an ordered dict of maps named ``"0"`` ... ``"3"`` (strides 4, 8, 16, 32) and
``"pool"`` (stride 64). Two bodies give that:

* :class:`StagePyramid`, for CNNs: torchvision's ``FeaturePyramidNetwork`` with its
  ``LastLevelMaxPool`` over the stages the backbone declares for detection
  (``layer1`` ... ``layer4`` of a ResNet);
* :class:`SimpleFeaturePyramid`, for ViTs: the simple feature pyramid of ViTDet (Li et
  al. 2022), built from the last block's single map by deconvolution (strides 4 and
  8), identity (16), max-pooling (32) and a further max-pool level (64).

A ViT whose patch is not 16 px (DINOv2's 14) sees its input resized by
:math:`p / 16`, so its token grid is exactly the stride-16 grid of the padded batch;
every level then has the power-of-two stride torchvision's anchor generator and
RoIAlign infer from the map sizes, and boxes need no correction.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.convnext import LayerNorm2d
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool
from torchvision.ops.misc import Conv2dNormActivation

from astrofm.errors import BackboneError

__all__ = ["SimpleFeaturePyramid", "StagePyramid", "feature_pyramid", "LEVELS", "STRIDES"]

#: Names of the pyramid levels, finest first, as torchvision's heads expect them.
LEVELS = ("0", "1", "2", "3", "pool")
#: Stride of each level in input pixels.
STRIDES = (4, 8, 16, 32, 64)


class StagePyramid(nn.Module):
    """torchvision's FPN over a CNN backbone's detector stages.

    Parameters
    ----------
    backbone : Backbone
        A CNN; ``backbone.spec.detector_layers`` names the stages (strides 4 to 32).
    out_channels : int
        Channels of every pyramid level.
    """

    def __init__(self, backbone, out_channels: int = 256):
        super().__init__()
        layers = backbone.spec.detector_layers
        if len(layers) != 4:
            raise BackboneError(
                f"backbone {backbone.spec.name!r} declares {len(layers)} detector layers; an "
                "FPN needs the four stages at strides 4, 8, 16 and 32."
            )
        self.backbone = backbone
        self.layers = [layer.name for layer in layers]
        self.neck = FeaturePyramidNetwork([layer.channels for layer in layers], out_channels,
                                          extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        """Pyramid maps ``"0"`` ... ``"3"``, ``"pool"`` of a padded batch ``x``."""
        maps = self.backbone.intermediate(x, self.layers)
        return self.neck(OrderedDict((LEVELS[i], maps[name]) for i, name in enumerate(self.layers)))


def _norm_conv(in_channels, out_channels, kernel_size):
    return Conv2dNormActivation(in_channels, out_channels, kernel_size, norm_layer=LayerNorm2d,
                                activation_layer=None, bias=False)


class SimpleFeaturePyramid(nn.Module):
    r"""ViTDet's simple feature pyramid from the last block of a ViT.

    With :math:`D` the token dimension, the last block's map (stride 16) becomes

    * stride 4: ConvTranspose(:math:`D \to D/2`, 2, 2) → LayerNorm → GELU →
      ConvTranspose(:math:`D/2 \to D/4`, 2, 2);
    * stride 8: ConvTranspose(:math:`D \to D/2`, 2, 2);
    * stride 16: the map itself;
    * stride 32: MaxPool(2, 2);

    each followed by a 1x1 and a 3x3 convolution with LayerNorm to ``out_channels``, and
    stride 64 is a max-pool (kernel 1, stride 2) of the stride-32 level, as in
    torchvision's ``LastLevelMaxPool``.

    Parameters
    ----------
    backbone : Backbone
        A ViT; its last declared detector layer feeds the pyramid.
    out_channels : int
        Channels of every pyramid level.
    """

    def __init__(self, backbone, out_channels: int = 256):
        super().__init__()
        layer = backbone.spec.detector_layers[-1]
        dim = layer.channels
        if dim % 4:
            raise BackboneError(f"backbone {backbone.spec.name!r}: a token dimension of {dim} "
                                "cannot be halved twice by the stride-4 deconvolutions; the "
                                "simple feature pyramid needs D % 4 == 0.")
        self.backbone = backbone
        self.layer = layer.name
        self.patch = layer.stride
        ups = {
            4: nn.Sequential(nn.ConvTranspose2d(dim, dim // 2, 2, 2), LayerNorm2d(dim // 2),
                             nn.GELU(), nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2)),
            8: nn.ConvTranspose2d(dim, dim // 2, 2, 2),
            16: nn.Identity(),
            32: nn.MaxPool2d(2, 2),
        }
        widths = {4: dim // 4, 8: dim // 2, 16: dim, 32: dim}
        self.neck = nn.ModuleList(
            nn.Sequential(ups[s], _norm_conv(widths[s], out_channels, 1),
                          _norm_conv(out_channels, out_channels, 3))
            for s in STRIDES[:4]
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        """Pyramid maps ``"0"`` ... ``"3"``, ``"pool"`` of a padded batch ``x``."""
        if self.patch != 16:
            # Sides are multiples of 32, so (H / 16) * p is a whole number of patches.
            size = (x.shape[-2] // 16 * self.patch, x.shape[-1] // 16 * self.patch)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                              antialias=self.patch < 16)
        fmap = self.backbone.intermediate(x, [self.layer])[self.layer]
        out = OrderedDict((LEVELS[i], branch(fmap)) for i, branch in enumerate(self.neck))
        out["pool"] = F.max_pool2d(out["3"], 1, 2, 0)
        return out


def feature_pyramid(backbone, out_channels: int = 256) -> nn.Module:
    """The pyramid body for ``backbone``: simple feature pyramid for ViTs, FPN for CNNs."""
    cls = SimpleFeaturePyramid if backbone.spec.is_vit else StagePyramid
    return cls(backbone, out_channels)
