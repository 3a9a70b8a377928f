"""Benchmark: astrofm.embed against the bare forward pass and a per-image transformers pipeline.

For each model (ViT-B/16 at 224 and ResNet-50, random weights) on N generated 132x132
radio-like FITS cutouts it times

(a) ``astrofm.embed`` end to end: files on disk to a FITS table on disk, once for each
    ``--workers`` value: with 0 the DataLoader reads and preprocesses in the main
    process, between forward passes; with 1 or more, worker processes prepare the
    next batches (two each, the DataLoader's prefetch) while the model runs;
(b) the backbone's forward pass alone on pre-made tensors of the same shape and batch
    size, the physical limit of this machine;
(c) the reference study's approach: transformers' ``pipeline("image-feature-extraction")``
    called image by image on 8-bit images made from the FITS files;

and prints images per second and the ratios a/b (target >= 0.95 with a worker) and a/c.
Every timing is the median of ``--repeats`` runs in this one process, the rows taking
turns (the median drops the first run's one-off costs: caches, lazy imports; the turns
spread changes of load on a shared machine over every row). The backbones have random
weights (``weights=None``): nothing can be downloaded here, and the throughput does not
depend on the values of the weights.

Run: ``python benchmarks/embed.py [--n 512] [--batch-size 32] [--repeats 3]
[--workers 0 1 2] [--models resnet50] [--no-pipeline]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits


def write_cutouts(folder: Path, n: int, size: int = 132, seed: int = 0) -> list[Path]:
    """Radio-like cutouts: correlated noise plus one or two elliptical Gaussian lobes."""
    from astropy.convolution import Gaussian2DKernel, convolve_fft
    from astropy.modeling.models import Gaussian2D

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    kernel = Gaussian2DKernel(1.5)
    paths = []
    for i in range(n):
        image = convolve_fft(rng.normal(0, 1e-4, (size, size)), kernel)
        for _ in range(rng.integers(1, 3)):
            g = Gaussian2D(rng.uniform(1e-3, 2e-2), *rng.uniform(40, 92, 2),
                           rng.uniform(2, 8), rng.uniform(1.5, 4), rng.uniform(0, np.pi))
            image += g(xx, yy)
        path = folder / f"cutout_{i:05d}.fits"
        fits.PrimaryHDU(image.astype(np.float32)).writeto(path)
        paths.append(path)
    return paths


def median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_embed(paths, model, batch_size, workers, out):
    import astrofm

    def run():
        out.unlink(missing_ok=True)
        astrofm.embed(paths, model=model, weights=None, batch_size=batch_size,
                      num_workers=workers, output=out, progress=False)

    return run


def bench_forward(backbone, n, batch_size):
    size = backbone.spec.input_size
    batches = [torch.randn(min(batch_size, n - i), 3, size, size) for i in range(0, n, batch_size)]

    def run():
        with torch.inference_mode():
            for x in batches:
                backbone.features(x)

    return run


def transformers_reference(kind: str):
    """A transformers model and image processor with random weights, built offline."""
    from transformers import (
        ConvNextImageProcessor,
        ResNetConfig,
        ResNetModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    torch.manual_seed(0)
    if kind == "vit":
        return ViTModel(ViTConfig(), add_pooling_layer=False).eval(), ViTImageProcessor()
    return ResNetModel(ResNetConfig()).eval(), ConvNextImageProcessor()


def bench_pipeline(paths, kind):
    from PIL import Image
    from transformers import pipeline

    model, processor = transformers_reference(kind)
    extractor = pipeline("image-feature-extraction", model=model, image_processor=processor,
                         device="cpu")

    def to_pil(path):
        data = fits.getdata(path).astype(np.float32)
        lo, hi = np.percentile(data, [0.5, 99.5])
        scaled = np.clip((data - lo) / (hi - lo), 0, 1)
        return Image.fromarray((scaled * 255).astype(np.uint8)).convert("RGB")

    def run():
        for path in paths:
            extractor(to_pil(path))

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="DataLoader worker counts to time embed with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["vit-base", "resnet50"])
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip (c), the transformers pipeline")
    args = parser.parse_args()

    import astrofm

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}; {args.n} cutouts, "
          f"batch {args.batch_size}, median of {args.repeats}; random weights "
          "(weights=None)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_cutouts(tmp, args.n)
        for name in args.models:
            backbone = astrofm.features.cached_backbone(name, weights=None)
            kind = "vit" if backbone.spec.patch_size else "resnet"
            runs = [("b forward", bench_forward(backbone, args.n, args.batch_size))]
            if not args.no_pipeline:
                runs.append(("c pipeline", bench_pipeline(paths, kind)))
            runs += [(f"a embed, {w} workers", bench_embed(
                paths, name, args.batch_size, w, tmp / "features.fits")) for w in args.workers]
            print(f"\n{name} at {backbone.spec.input_size} px", flush=True)
            # Alternated repeats, so that a change of load on the machine lands on all.
            times = {label: [] for label, _ in runs}
            for _ in range(args.repeats):
                for label, run in runs:
                    times[label].append(median_time(run, 1))
            rates = {label: args.n / statistics.median(t) for label, t in times.items()}
            for label in rates:
                ratios = ""
                if label.startswith("a "):
                    ratios = f"   a/b = {rates[label] / rates['b forward']:.2f}"
                    if "c pipeline" in rates:
                        ratios += f"   a/c = {rates[label] / rates['c pipeline']:.2f}"
                runs_text = ", ".join(f"{args.n / t:.1f}" for t in times[label])
                print(f"  {label:20} {rates[label]:8.1f} images/s{ratios}  (runs: "
                      f"{runs_text})", flush=True)


if __name__ == "__main__":
    main()
