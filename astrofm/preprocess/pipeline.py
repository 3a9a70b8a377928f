"""A sequence of steps that is itself a step."""

from __future__ import annotations

from astrofm.errors import ConfigError
from astrofm.preprocess.base import Step, from_dict
from astrofm.preprocess.tensor import to_tensor

__all__ = ["Pipeline"]


class Pipeline(Step):
    r"""Apply steps in order: :math:`y = s_n(\dots s_2(s_1(x)))`.

    A pipeline is callable on an image or a list of images, like any step; each step
    records itself in the images' history (the pipeline adds no entry of its own).
    Its dict form nests the steps' dicts, ``{"step": "Pipeline", "steps": [...]}``.
    ``pipeline + step`` and ``pipeline + other_pipeline`` give a longer pipeline.

    Parameters
    ----------
    steps : list of Step or dict
        The steps, as objects or in their dict form.
    """

    def __init__(self, steps=()):
        built = []
        for step in steps:
            if isinstance(step, dict):
                step = from_dict(step)
            if not isinstance(step, Step):
                raise ConfigError(
                    f"Pipeline steps must be Step objects or step dicts; got {step!r}."
                )
            built.append(step)
        self.steps = built

    def get_config(self):
        return {"steps": [step.to_dict() for step in self.steps]}

    def __call__(self, images):
        # Step by step over the whole batch: each step checks and handles the list.
        for step in self.steps:
            images = step(images)
        return images

    def apply(self, image):
        return self(image)

    def to_tensor(self, images):
        """Apply the pipeline to ``images`` and stack them into a ``(N, C, H, W)`` tensor."""
        return to_tensor(self(images))

    def __add__(self, other):
        if isinstance(other, Pipeline):
            return Pipeline([*self.steps, *other.steps])
        if isinstance(other, Step):
            return Pipeline([*self.steps, other])
        return NotImplemented

    def __len__(self):
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Pipeline(self.steps[index])
        return self.steps[index]

    def __repr__(self):
        if not self.steps:
            return "Pipeline([])"
        inner = "".join(f"\n    {step!r}," for step in self.steps)
        return f"Pipeline([{inner}\n])"
