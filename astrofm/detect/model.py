"""torchvision's Faster R-CNN on any astrofm backbone.

The network is torchvision's :class:`~torchvision.models.detection.FasterRCNN` with a
pyramid body from :mod:`astrofm.detect.pyramid`, anchors from
:mod:`astrofm.detect.anchors`, and a transform that only pads: astrofm's
preprocessing has already resized and normalised the images (and recorded the
geometry that maps boxes back), so torchvision must not do either a second time.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from astrofm.detect.anchors import check_number
from astrofm.detect.pyramid import LEVELS, feature_pyramid
from astrofm.errors import ConfigError

__all__ = ["PreparedTransform", "build_faster_rcnn", "check_network_options",
           "detection_backbone", "head_modules",
           "MIN_INPUT", "DIVISIBLE"]

#: Smallest input side the network accepts: one cell of the stride-64 level.
MIN_INPUT = 64
#: Batches are padded to a multiple of this, so levels 4 to 32 have exact strides.
DIVISIBLE = 32


class PreparedTransform(GeneralizedRCNNTransform):
    """torchvision's batching transform without its resize and normalisation.

    Images arrive resized and normalised by astrofm's preprocessing; this transform
    pads them into a batch whose sides are multiples of ``size_divisible``, and the
    boxes it returns are on the images as given.
    """

    def __init__(self, size_divisible: int = DIVISIBLE):
        super().__init__(min_size=1, max_size=1, image_mean=[0.0], image_std=[1.0],
                         size_divisible=size_divisible)

    def normalize(self, image):
        """The image unchanged: astrofm's :class:`~astrofm.preprocess.Normalize` did it."""
        return image

    def resize(self, image, target=None):
        """The image and target unchanged: astrofm's preprocessing set the size."""
        return image, target


def detection_backbone(model, weights, backbone_options: dict):
    """``(name, backbone)`` of a detector's ``model``: a registered name, or a built backbone.

    Raises
    ------
    ConfigError
        ``model`` is neither, or ``weights``/``backbone_options`` come with a built one.
    """
    from astrofm import backbones

    if isinstance(model, str):
        return model, backbones.load(model, weights=weights, **backbone_options)
    if hasattr(model, "spec") and hasattr(model, "intermediate"):
        if weights != "pretrained" or backbone_options:
            raise ConfigError("weights= and backbone_options= apply to a backbone name; a "
                              "built backbone already has its weights and shape.")
        return None, model
    raise ConfigError(f"model={model!r}: give a backbone name from astrofm.backbones.list() "
                      "or a module from astrofm.backbones.load().")


def check_network_options(*, out_channels, representation_size, min_score, nms_iou,
                          max_detections) -> dict:
    """The settings of :func:`build_faster_rcnn`, checked before any backbone is built.

    Raises
    ------
    ConfigError
        Naming the first setting out of its range.
    """
    return {"out_channels": check_number("out_channels", out_channels, integer=True),
            "representation_size": check_number("representation_size", representation_size,
                                                integer=True),
            "min_score": check_number("min_score", min_score, low_inclusive=True, high=1),
            "nms_iou": check_number("nms_iou", nms_iou, high=1),
            "max_detections": check_number("max_detections", max_detections, integer=True)}


def build_faster_rcnn(backbone, num_classes: int, prior, *, out_channels: int = 256,
                      representation_size: int = 1024, min_score: float = 0.05,
                      nms_iou: float = 0.5, max_detections: int = 300,
                      **rcnn_options) -> FasterRCNN:
    """Faster R-CNN on ``backbone`` with anchors from ``prior``.

    Parameters
    ----------
    backbone : Backbone
        Any registered backbone; ViTs get the simple feature pyramid, CNNs an FPN.
    num_classes : int
        Object classes, background excluded.
    prior : BoxPrior
        Anchor sizes (pixels of the scaled input) and aspect ratios.
    out_channels : int
        Channels of the pyramid levels.
    representation_size : int
        Width of the two fully connected layers of the box head.
    min_score : float
        Detections scoring below this are dropped inside the network (keep it low for
        mAP, which needs the whole ranking).
    nms_iou : float
        IoU above which the network's per-class NMS suppresses a box.
    max_detections : int
        Most detections kept per image (per tile in tiled inference).
    **rcnn_options
        Further :class:`~torchvision.models.detection.FasterRCNN` arguments
        (``rpn_pre_nms_top_n_train``, ``box_batch_size_per_image`` ...).

    Returns
    -------
    torchvision.models.detection.FasterRCNN
    """
    body = feature_pyramid(backbone, out_channels)
    n_levels = len(LEVELS)
    anchors = AnchorGenerator(sizes=(tuple(prior.anchor_sizes),) * n_levels,
                              aspect_ratios=(tuple(prior.aspect_ratios),) * n_levels)
    roi_pool = MultiScaleRoIAlign(featmap_names=list(LEVELS[:4]), output_size=7, sampling_ratio=2)
    resolution = roi_pool.output_size[0]
    model = FasterRCNN(
        body,
        None,
        rpn_anchor_generator=anchors,
        box_roi_pool=roi_pool,
        box_head=TwoMLPHead(out_channels * resolution**2, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes + 1),
        box_score_thresh=min_score,
        box_nms_thresh=nms_iou,
        box_detections_per_img=max_detections,
        **rcnn_options,
    )
    model.transform = PreparedTransform()
    return model


def head_modules(model: FasterRCNN) -> nn.ModuleList:
    """Everything of the network that is not the backbone: pyramid, RPN and RoI heads."""
    return nn.ModuleList([model.backbone.neck, model.rpn, model.roi_heads])
