import copy
import json

import numpy as np
import pytest
import torch
from astropy import units as u
from astropy.coordinates import SkyCoord

from astrofm import AstroImage
from astrofm.errors import ConfigError, UnknownNameError
from astrofm.preprocess import (
    ByKind,
    CropToBox,
    CropToSource,
    Normalize,
    Pipeline,
    ResizeForPatch,
    SigmaClip,
    Step,
    Stretch,
    SubtractBackground,
    ToChannels,
    default_pipeline,
    from_dict,
    registered_steps,
    to_tensor,
)

STEPS = [
    Stretch("asinh", "zscale", a=0.05),
    Stretch("histeq", "percentile", percentile=99.0),
    Stretch("power", "manual", a=0.5, vmin=0.0, vmax=0.004),
    SigmaClip(2.5, "floor"),
    SubtractBackground(33, 3, estimator="mmm"),
    CropToBox((20, 30, 90, 70), margin=0.1),
    CropToBox(position=SkyCoord(150.0 * u.deg, 2.0 * u.deg), size=(40, 50) * u.arcsec),
    CropToBox(position=(66, 66), size=50, square=False),
    CropToSource(nsigma=3, npixels=10, margin=4, select="all"),
    ResizeForPatch(14, size=(112, 224), interpolation="bilinear"),
    ResizeForPatch(16, min_patches_per_source=3, source_size="auto", max_size=256),
    ToChannels("stretches"),
    ToChannels("replicate", n=3),
    Normalize(0.1, 0.5),
    default_pipeline("fits"),
    default_pipeline("png", patch_size=16, size=(224, 448)),
    ByKind(float=default_pipeline("fits"), display=default_pipeline("png")),
]
IDS = [repr(s).split("(")[0] + str(i) for i, s in enumerate(STEPS)]


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_dict_round_trip_through_json(step, radio_image):
    d = json.loads(json.dumps(step.to_dict()))
    rebuilt = from_dict(d)
    assert type(rebuilt) is type(step)
    assert rebuilt.to_dict() == step.to_dict()
    assert rebuilt == step
    np.testing.assert_array_equal(rebuilt(radio_image).data, step(radio_image).data)


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_batch_equals_image_by_image(step, radio_batch):
    batch = step(radio_batch)
    assert isinstance(batch, list) and len(batch) == len(radio_batch)
    for out, image in zip(batch, radio_batch, strict=True):
        one = step(image)
        np.testing.assert_array_equal(out.data, one.data)
        np.testing.assert_array_equal(out.mask, one.mask)
        assert out.geometry == one.geometry
        assert out.history == one.history


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_input_is_not_changed(step, radio_image):
    before = copy.deepcopy(radio_image)
    out = step(radio_image)
    np.testing.assert_array_equal(radio_image.data, before.data)
    np.testing.assert_array_equal(radio_image.mask, before.mask)
    assert radio_image.history == [] and radio_image.geometry == before.geometry
    assert out is not radio_image
    if not isinstance(step, Pipeline | ByKind):  # composites record their inner steps
        assert out.history == [step.to_dict()]


def test_every_exported_step_is_covered():
    import astrofm.preprocess as pp

    exported = {name for name in pp.__all__
                if isinstance(getattr(pp, name), type) and issubclass(getattr(pp, name), Step)}
    assert exported - {"Step"} == {type(s).__name__ for s in STEPS}
    assert exported - {"Step"} <= set(registered_steps())


def test_pipeline_composition_and_repr(radio_image):
    pipe = SigmaClip() + Stretch() + ResizeForPatch(14, size=56)
    assert isinstance(pipe, Pipeline) and len(pipe) == 3
    longer = pipe + Pipeline([ToChannels(), Normalize(0.5, 0.5)])
    assert [type(s).__name__ for s in longer] == [
        "SigmaClip", "Stretch", "ResizeForPatch", "ToChannels", "Normalize"]
    assert isinstance(longer[1:3], Pipeline) and longer[0] == SigmaClip()
    text = repr(longer)
    assert text.startswith("Pipeline([\n    SigmaClip(") and "Stretch(kind='asinh'" in text
    out = longer(radio_image)
    assert [h["step"] for h in out.history] == [type(s).__name__ for s in longer]
    assert Pipeline([s.to_dict() for s in longer]) == longer


def test_to_tensor(radio_batch):
    pipe = default_pipeline("fits")
    tensor = pipe.to_tensor(radio_batch)
    assert tensor.shape == (3, 3, 224, 224) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor[1].numpy(), pipe(radio_batch[1]).data)
    assert to_tensor(pipe(radio_batch[0])).shape == (1, 3, 224, 224)
    mixed = [CropToBox((0, 0, 50, 50))(radio_batch[0]), radio_batch[1]]
    with pytest.raises(ConfigError, match="ResizeForPatch"):
        to_tensor(mixed)
    with pytest.raises(ConfigError, match="at least one"):
        to_tensor([])


def test_from_dict_errors():
    with pytest.raises(UnknownNameError, match="Stretch") as info:
        from_dict({"step": "Strech"})
    assert "known steps" in str(info.value)
    with pytest.raises(ConfigError, match="'step' key"):
        from_dict({"kind": "asinh"})
    with pytest.raises(ConfigError, match="Normalize accepts: mean, std"):
        from_dict({"step": "Normalize", "mean": 0, "sdt": 1})
    with pytest.raises(ConfigError, match="is not a Stretch"):
        Stretch.from_dict({"step": "Normalize"})
    assert Step.from_dict({"step": "SigmaClip"}) == SigmaClip()


def test_steps_reject_what_is_not_an_image():
    with pytest.raises(ConfigError, match="astrofm.load"):
        SigmaClip()("cutout.fits")
    with pytest.raises(ConfigError, match="AstroImage items"):
        SigmaClip()([np.zeros((4, 4))])


def test_by_kind_picks_the_pipeline_of_each_image(radio_image):
    step = ByKind(float=default_pipeline("fits"), display=default_pipeline("png"))
    display = AstroImage(np.full((3, 40, 40), 128.0), display=True, source="a.png")
    out_float, out_display = step([radio_image, display])
    assert out_float.history[0]["step"] == "SigmaClip"
    assert out_display.history[0] == default_pipeline("png")[0].to_dict()
