"""Benchmark: the default radio preprocessing, through a DataLoader, against a plain loop.

Writes ``--n`` radio-like 132x132 float32 FITS cutouts (noise, elliptical Gaussians,
double-lobed sources) to a temporary folder, then times, over ``--repeats`` runs:

* ``loop``: a straightforward per-image loop in this process — ``astropy.io.fits``
  open, sigma-clipped statistics and numpy clip, zscale + numpy asinh, PIL bicubic
  resize to 224, three channels, normalise, stack into a tensor;
* ``astrofm, 1 process``: ``astrofm.preprocess.default_pipeline("fits")`` (sigma clip,
  asinh on zscale, resize to 224, replicate to 3 channels, normalise) in this process;
* ``astrofm, DataLoader``: the same in a ``torch.utils.data.DataLoader`` with
  ``--workers`` worker processes, end to end (worker start-up and FITS reading
  included).

A last row gives the CPU-time ratio of ``astrofm, 1 process`` to ``loop``: the two are
run alternately, ``--repeats`` times each, and the medians of their
``time.process_time`` per cutout are compared, so that other work on the machine
weighs on both alike. The goal is a ratio of at most 1.0.

Each is run with the reader ``astrofm.io.load`` (when importable) and with a bare
``astropy.io.fits`` reader building the AstroImage directly, so the cost of each part
shows. Medians over the repeats are printed, with the load average, since other work
on the machine changes the figures. Run::

    python benchmarks/preprocess.py [--n 2000] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from astrofm import AstroImage
from astrofm.preprocess import IMAGENET_MEAN, IMAGENET_STD, default_pipeline

SIZE = 132
OUT = 224


# --- data ---------------------------------------------------------------------------


def _header(rng):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [rng.uniform(0, 360), rng.uniform(-60, 60)]
    wcs.wcs.crpix = [SIZE / 2 + 0.5, SIZE / 2 + 0.5]
    wcs.wcs.cdelt = [-1.8 / 3600, 1.8 / 3600]
    header = wcs.to_header()
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = 5 / 3600
    header["BMIN"] = 5 / 3600
    return header


def _gaussian(yy, xx, x0, y0, amp, sx, sy, theta):
    c, s = np.cos(theta), np.sin(theta)
    dx, dy = xx - x0, yy - y0
    u, v = c * dx + s * dy, -s * dx + c * dy
    return amp * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))


def radio_cutout(rng):
    """Noise plus a compact source, an extended ellipse or a double-lobed source."""
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    noise = rng.uniform(5e-5, 2e-4)
    data = rng.normal(0.0, noise, (SIZE, SIZE)).astype(np.float32)
    cx, cy = SIZE / 2 + rng.normal(0, 3, 2)
    kind = rng.integers(3)
    if kind == 0:  # compact or slightly resolved
        data += _gaussian(yy, xx, cx, cy, noise * rng.uniform(10, 200), *rng.uniform(1.5, 3, 2),
                          rng.uniform(0, np.pi))
    elif kind == 1:  # extended elliptical
        data += _gaussian(yy, xx, cx, cy, noise * rng.uniform(5, 50), rng.uniform(4, 12),
                          rng.uniform(2, 5), rng.uniform(0, np.pi))
    else:  # double-lobed: two lobes either side of a faint core
        sep, angle = rng.uniform(10, 40), rng.uniform(0, np.pi)
        dx, dy = sep * np.cos(angle), sep * np.sin(angle)
        for sign in (-1, 1):
            data += _gaussian(yy, xx, cx + sign * dx, cy + sign * dy,
                              noise * rng.uniform(10, 100), rng.uniform(2, 6),
                              rng.uniform(1.5, 3), angle)
        data += _gaussian(yy, xx, cx, cy, noise * rng.uniform(3, 10), 1.5, 1.5, 0.0)
    for _ in range(rng.integers(0, 3)):  # unrelated background sources
        x, y = rng.uniform(0, SIZE, 2)
        data += _gaussian(yy, xx, x, y, noise * rng.uniform(5, 30), 1.8, 1.8, 0.0)
    return data


def write_cutouts(folder: Path, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"cutout_{i:05d}.fits"
        fits.writeto(path, radio_cutout(rng), _header(rng))
        paths.append(str(path))
    return paths


# --- readers --------------------------------------------------------------------------


def read_astropy(path):
    """The bare reader: data and header with astropy, no WCS or unit parsing."""
    data, header = fits.getdata(path, header=True)
    return AstroImage(data, header=header, source=path)


def reader(name):
    if name == "astropy":
        return read_astropy
    from astrofm.io import load

    return load


# --- the two ways ---------------------------------------------------------------------


class CutoutDataset(Dataset):
    """Loads one FITS cutout and returns the preprocessed (3, 224, 224) tensor."""

    def __init__(self, paths, pipeline, read):
        self.paths, self.pipeline, self.read = paths, pipeline, read

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return torch.from_numpy(self.pipeline(self.read(self.paths[index])).data)


def run_dataloader(paths, read, workers, batch_size):
    loader = DataLoader(CutoutDataset(paths, default_pipeline("fits"), read),
                        batch_size=batch_size, num_workers=workers)
    n = 0
    for batch in loader:
        n += batch.shape[0]
    return n


def run_in_process(paths, read, batch_size):
    pipeline = default_pipeline("fits")
    n = 0
    for start in range(0, len(paths), batch_size):
        images = [read(p) for p in paths[start : start + batch_size]]
        n += pipeline.to_tensor(images).shape[0]
    return n


def baseline_one(path, mean, std):
    """What one would write by hand: astropy open, numpy clip/stretch, PIL resize."""
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(np.float32)
    mu, _, rms = sigma_clipped_stats(data, sigma=3.0)
    data = np.where(data < mu + 3 * rms, 0.0, data).astype(np.float32)
    nonzero = data[data != 0]
    vmin, vmax = ZScaleInterval().get_limits(nonzero) if nonzero.size else (0.0, 0.0)
    if vmax > vmin:
        scaled = np.clip((data - vmin) / (vmax - vmin), 0, 1)
        data = (np.arcsinh(scaled / 0.1) / np.arcsinh(1 / 0.1)).astype(np.float32)
    else:
        data = np.zeros_like(data)
    resized = np.asarray(Image.fromarray(data, mode="F").resize((OUT, OUT), Image.BICUBIC))
    rgb = np.stack([resized] * 3)
    return (rgb - mean) / std


def run_baseline(paths, batch_size):
    mean = np.array(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.array(IMAGENET_STD, np.float32)[:, None, None]
    n = 0
    for start in range(0, len(paths), batch_size):
        arrays = [baseline_one(p, mean, std) for p in paths[start : start + batch_size]]
        n += torch.from_numpy(np.stack(arrays).astype(np.float32)).shape[0]
    return n


# --- timing ---------------------------------------------------------------------------


def _cpu_seconds():
    """CPU time of this process and of its finished children (DataLoader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(label, func, repeats, n_expected):
    """Median wall-clock rate, and the CPU milliseconds each cutout cost.

    Other work on the machine lowers the wall-clock rate; the CPU time per cutout
    is much less sensitive to it, so both are printed.
    """
    rates, cpu_ms, loads = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        n = func()
        rates.append(n / (time.perf_counter() - t0))
        cpu_ms.append(1e3 * (_cpu_seconds() - c0) / n)
        loads.append(os.getloadavg()[0])
        assert n == n_expected, (n, n_expected)
    rate, cpu = statistics.median(rates), statistics.median(cpu_ms)
    print(f"{label:<44s} {rate:7.1f} cutouts/s, {cpu:5.2f} CPU-ms/cutout  (runs: "
          f"{', '.join(f'{r:.0f}' for r in rates)}; load avg up to {max(loads):.1f})",
          flush=True)
    return rate, cpu


def cpu_ratio(paths, repeats, batch_size):
    """Median process CPU-ms per cutout of the loop and of astrofm in one process.

    The two alternate, so that a change of load on the machine lands on both.
    """
    from astrofm.io import load

    loop_ms, astrofm_ms = [], []
    for _ in range(repeats):
        for func, out in ((lambda: run_baseline(paths, batch_size), loop_ms),
                          (lambda: run_in_process(paths, load, batch_size), astrofm_ms)):
            c0 = time.process_time()
            n = func()
            out.append(1e3 * (time.process_time() - c0) / n)
    loop, ours = statistics.median(loop_ms), statistics.median(astrofm_ms)
    ratio = ours / loop
    print(f"{'CPU-time ratio astrofm / loop, 1 process':<44s} {ratio:5.2f}  (astrofm "
          f"{ours:.2f}, loop {loop:.2f} CPU-ms/cutout, medians of {repeats} alternated "
          f"runs; goal <= 1.0 {'met' if ratio <= 1.0 else 'NOT met'}; load avg "
          f"{os.getloadavg()[0]:.1f})", flush=True)
    return ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of cutouts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the in-process runs use one core, as one worker does

    readers = ["astropy"]
    try:
        import astrofm.io  # noqa: F401

        readers.insert(0, "astrofm")
    except ImportError:
        print("astrofm.io is not importable; only the bare astropy reader is timed.")

    with tempfile.TemporaryDirectory(prefix="astrofm-bench-") as tmp:
        t0 = time.perf_counter()
        paths = write_cutouts(Path(tmp), args.n)
        print(f"wrote {args.n} cutouts of {SIZE}x{SIZE} float32 in "
              f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs, "
              f"load avg {os.getloadavg()[0]:.1f} before timing")
        print(f"median of {args.repeats} runs over {args.n} cutouts, batches of "
              f"{args.batch_size}:")
        base, _ = timed("loop (astropy, numpy, PIL), 1 process", lambda: run_baseline(
            paths, args.batch_size), args.repeats, args.n)
        for name in readers:
            read = reader(name)
            timed(f"astrofm, 1 process, reader {name}", lambda r=read: run_in_process(
                paths, r, args.batch_size), args.repeats, args.n)
            rate, cpu = timed(f"astrofm, DataLoader {args.workers} workers, reader {name}",
                              lambda r=read: run_dataloader(paths, r, args.workers,
                                                            args.batch_size),
                              args.repeats, args.n)
            print(f"{'':<44s} ratio to the loop: {rate / base:.2f}x; target 300/s "
                  f"{'met' if rate >= 300 else 'NOT met'}; on {args.workers} idle cores "
                  f"the CPU time allows ~{1e3 * args.workers / cpu:.0f}/s")
        if "astrofm" in readers:
            cpu_ratio(paths, args.repeats, args.batch_size)


if __name__ == "__main__":
    main()
