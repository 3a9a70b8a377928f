"""Domain preprocessing: composable, serialisable steps on :class:`~astrofm.AstroImage`.

Each step is a callable on an image (or a list of images) that returns a new image
and records itself in the image's history; crops and resizes also record their
geometry, so boxes on the output map back to the input pixels and the sky::

    from astrofm.preprocess import (Pipeline, SigmaClip, Stretch, CropToSource,
                                    ResizeForPatch, ToChannels, Normalize)

    pipe = Pipeline([SigmaClip(3), Stretch("asinh", "zscale", exclude_zeros=True),
                     CropToSource(), ResizeForPatch(14, 224), ToChannels("replicate"),
                     Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    out = pipe(image)
    tensor = pipe.to_tensor([image_a, image_b])       # (2, 3, 224, 224)
    same = astrofm.preprocess.from_dict(pipe.to_dict())
"""

from astrofm.preprocess.background import SubtractBackground
from astrofm.preprocess.base import Step, from_dict, registered_steps
from astrofm.preprocess.bykind import ByKind
from astrofm.preprocess.channels import ToChannels, default_channel_stretches
from astrofm.preprocess.clip import SigmaClip
from astrofm.preprocess.crop import CropToBox, CropToSource
from astrofm.preprocess.defaults import IMAGENET_MEAN, IMAGENET_STD, default_pipeline
from astrofm.preprocess.normalize import Normalize
from astrofm.preprocess.pipeline import Pipeline
from astrofm.preprocess.resize import ResizeForPatch
from astrofm.preprocess.stretch import INTERVALS, STRETCHES, Stretch
from astrofm.preprocess.tensor import to_tensor

__all__ = [
    "Step",
    "Pipeline",
    "ByKind",
    "Stretch",
    "SigmaClip",
    "SubtractBackground",
    "CropToBox",
    "CropToSource",
    "ResizeForPatch",
    "ToChannels",
    "Normalize",
    "default_pipeline",
    "default_channel_stretches",
    "to_tensor",
    "from_dict",
    "registered_steps",
    "STRETCHES",
    "INTERVALS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
