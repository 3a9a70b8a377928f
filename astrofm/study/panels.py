"""The figures of a study run that need its backbones: attention and preprocessing panels.

They are drawn once, at the end of a run, into ``DIR/figures/`` (the report embeds
them; re-rendering the report does not rebuild a backbone). The images shown are a
few test images and, when the study names them, ``showcase`` images such as a real
FITS file that ships inside an installed package.
"""

from __future__ import annotations

import logging

from astrofm.study.grid import variant_preprocessing

__all__ = ["draw_panels"]

log = logging.getLogger("astrofm.study")

#: Test images per panel.
N_IMAGES = 3


def _images(run) -> list:
    from astrofm.io import load

    images = []
    test = run.splits.get("test")
    if test is not None:
        images = [test.load(i) for i in range(min(N_IMAGES, len(test)))]
    images += [load(run.study.path(p)) for p in run.study.showcase]
    return images


def _kind_pipeline(step, image):
    """The pipeline a ByKind step applies to ``image`` (its own kind of data)."""
    from astrofm.preprocess.bykind import ByKind

    if isinstance(step, ByKind):
        return step.display if image.display else step.float
    return step


def draw_panels(run) -> list:
    """Write ``figures/preprocessing*.png`` and ``figures/attention__*.png`` for ``run``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from astrofm import backbones
    from astrofm.features import adapt
    from astrofm.features.store import atomic_path
    from astrofm.study.figures import attention_figure, figure_png, preprocessing_figure

    c = run.study.classify
    if c is None:
        return []
    images = _images(run)
    if not images:
        return []
    folder = run.out / "figures"
    written = []

    def save(name, figure):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(figure_png(figure))
        written.append(folder / name)

    first = backbones.get(c["backbones"][0]["name"])
    for i, image in enumerate(images):
        pipelines = {name: _kind_pipeline(variant_preprocessing(first, v, size=c["size"]), image)
                     for name, v in c["variants"].items()}
        save(f"preprocessing_{i}.png", preprocessing_figure(image, pipelines))
    for entry in c["backbones"]:
        spec = backbones.get(entry["name"])
        if not spec.has_attention:
            continue
        model = backbones.load(entry["name"], weights=entry["weights"], **entry["options"])
        maps = [adapt(images, model=model,
                      preprocessing=variant_preprocessing(spec, v, size=c["size"])).attention()
                for v in c["variants"].values()]
        titles = [f"{entry['name']} ({model.weights_origin}), {name}" for name in c["variants"]]
        save(f"attention__{entry['name']}__{'+'.join(c['variants'])}.png",
             attention_figure(images, maps, titles))
    log.info("drew %d figure panels", len(written))
    return written
