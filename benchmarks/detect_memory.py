"""Peak memory of tiled detection over a large FITS mosaic.

Writes a generated float32 mosaic (default 8192 x 8192, 256 MB: radio fields with a
NaN border and a blanked square), then runs ``Detector.detect`` over it in a fresh
process and reports that process's peak resident memory (``ru_maxrss``), beside the
peak of the same process that only builds the detector (torch, the model) and the
peak on a mosaic four times smaller: tiles are read through a memory map, so the
peak should not depend on the mosaic's size. The issue's bound is 2 GB.

Usage::

    python benchmarks/detect_memory.py                     # untrained ResNet-18, scale 1
    python benchmarks/detect_memory.py --model finder.astrofm --tile 256
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_mosaic(path: Path, size: int, block: int = 512, seed: int = 0) -> Path:
    """Write a ``size`` x ``size`` float32 mosaic strip by strip, never holding it whole."""
    from astropy.io import fits

    from astrofm.detect.simulate import simulate_field

    header = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": size,
                          "NAXIS2": size, "CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN",
                          "CRVAL1": 150.0, "CRVAL2": 30.0, "CRPIX1": size / 2,
                          "CRPIX2": size / 2, "CDELT1": -1.5 / 3600, "CDELT2": 1.5 / 3600,
                          "CUNIT1": "deg", "CUNIT2": "deg"})
    stream = fits.StreamingHDU(path, header)
    border, blank = size // 32, (size // 2, size // 2 + size // 8)
    for row in range(0, size, block):
        strip = np.concatenate(
            [simulate_field((block, block), n_sources=(20, 60), beam_fwhm=3.0,
                            seed=np.random.default_rng([seed, row, col]))[0].data
             for col in range(0, size, block)], axis=1)
        strip[:, :border] = np.nan  # a NaN border, as mosaics have
        if blank[0] <= row < blank[1]:
            strip[:, blank[0]:blank[1]] = 0.0  # a blanked area
        stream.write(strip.astype(">f4"))
    stream.close()
    return path


def child(args) -> None:
    """Build the detector, optionally run it, and print the process's peak memory."""
    import astrofm
    from astrofm.detect import Detector

    if args.model:
        detector = astrofm.load(args.model)
    else:
        detector = Detector("resnet18", "frozen", weights=None, input_scale=1.0,
                            anchor_sizes=(8.0, 16.0, 32.0))
    result = {}
    if args.mosaic:
        start = time.perf_counter()
        table = detector.detect(args.mosaic, tile=args.tile, overlap=args.overlap,
                                batch_size=args.batch_size, progress=False)
        result = {"seconds": round(time.perf_counter() - start, 1), "sources": len(table),
                  "tiles": table.meta["tiles"], "skipped": table.meta["skipped"]}
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(args, mosaic) -> dict:
    command = [sys.executable, __file__, "--child", "--tile", str(args.tile), "--overlap",
               str(args.overlap), "--batch-size", str(args.batch_size)]
    command += ["--model", args.model] if args.model else []
    command += ["--mosaic", str(mosaic)] if mosaic else []
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--model", help="a saved detector (default: untrained ResNet-18)")
    parser.add_argument("--folder", type=Path, help="where the mosaics go (default: temporary)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mosaic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [("detector only", None, run_child(args, None))]
        for size in (args.size // 2, args.size):
            path = folder / f"mosaic_{size}.fits"
            if not path.exists():
                write_mosaic(path, size)
            rows.append((f"{size} x {size} ({path.stat().st_size / 2**20:.0f} MB)", size,
                         run_child(args, path)))
    print(f"tile {args.tile}, overlap {args.overlap}, batch {args.batch_size}, "
          f"model {args.model or 'untrained ResNet-18 (scale 1)'}")
    for name, _, r in rows:
        extra = (f", {r['tiles']} tiles ({r['skipped']} skipped), {r['sources']} sources, "
                 f"{r['seconds']} s") if "tiles" in r else ""
        print(f"  {name:28s} peak RSS {r['peak_mb']:7.0f} MB{extra}")


if __name__ == "__main__":
    main()
