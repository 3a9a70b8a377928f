"""Benchmark: a survey-size ``astrofm.embed`` job, its memory, cache and resume after a kill.

Writes ``--n`` radio-like 132x132 float32 FITS cutouts with a celestial WCS (the
generator of ``benchmarks/preprocess.py``) into ``--folder``, once: files already there
are kept, so a folder made for a larger N serves every smaller one. Then, each in a
fresh subprocess so that its peak RSS is its own:

1. an uninterrupted ``astrofm.embed`` of the N files (ResNet-18 at 64 px, random
   weights ``weights=None``, an HDF5 table and an explicit shard cache): wall time,
   images/s, peak RSS of the main process and of its DataLoader workers, size of the
   shard cache;
2. the same job into a new table and cache, killed with SIGKILL once the cache holds
   about half of the rows, then run again: the time the rerun takes to finish, and a
   check that the final table has N rows, no duplicate and no NaN feature, and equals
   the uninterrupted run's table.

Run (the 100,000-cutout job writes about 7 GB of FITS; give a folder on a disk with
room, and run it when the machine is otherwise idle)::

    python benchmarks/embed_survey.py --n 100000 --folder /scratch/astrofm-survey \\
        [--batch-size 256] [--workers 1]

RSS flat in N: run it with ``--n 2000`` and ``--n 20000`` on the same folder and
compare the peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODEL, SIZE = "resnet18", 64


def write_cutouts(folder: Path, n: int) -> list[Path]:
    """The first ``n`` cutouts of the folder, writing the ones that are missing.

    Cutout ``i`` depends on ``i`` only, so cutouts written by runs with other ``n``
    are the same files.
    """
    from astropy.io import fits

    sys.path.insert(0, str(Path(__file__).parent))
    from preprocess import _header, radio_cutout

    folder.mkdir(parents=True, exist_ok=True)
    paths, written, t0 = [], 0, time.perf_counter()
    for i in range(n):
        path = folder / f"cutout_{i:06d}.fits"
        if not path.exists():
            rng = np.random.default_rng([i, 2026])
            tmp = path.with_suffix(".tmp")
            fits.writeto(tmp, radio_cutout(rng), _header(rng), overwrite=True)
            os.replace(tmp, path)  # a killed generation leaves no half-written cutout
            written += 1
        paths.append(path)
    print(f"{n} cutouts in {folder} ({written} written in "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return paths


def child(args) -> None:
    """The embed job itself, run in a subprocess; prints one JSON line of measures."""
    import astrofm

    paths = [str(Path(args.folder) / f"cutout_{i:06d}.fits") for i in range(args.n)]
    t0 = time.perf_counter()
    table = astrofm.embed(paths, model=MODEL, size=SIZE, weights=None,
                          batch_size=args.batch_size, num_workers=args.workers,
                          output=args.output, cache=args.cache, progress=False)
    wall = time.perf_counter() - t0
    print(json.dumps({
        "wall_s": wall, "rows": len(table),
        "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }), flush=True)


def _command(args, output, cache) -> list[str]:
    return [sys.executable, __file__, "--child", "--n", str(args.n), "--folder",
            str(args.folder), "--batch-size", str(args.batch_size), "--workers",
            str(args.workers), "--output", str(output), "--cache", str(cache)]


def run_job(args, output, cache) -> dict:
    """Run the embed in a subprocess to the end; its JSON measures."""
    done = subprocess.run(_command(args, output, cache), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the embed subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def kill_at_half(args, output, cache) -> int:
    """Start the embed, SIGKILL it once the cache holds half the rows; rows it left."""
    proc = subprocess.Popen(_command(args, output, cache), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    half = args.n // 2
    while proc.poll() is None:
        # One shard per batch; every batch but the last is full.
        if len(list(cache.glob("shard-*.npz"))) * args.batch_size >= half:
            os.killpg(proc.pid, signal.SIGKILL)  # the job and its DataLoader workers
            break
        time.sleep(0.05)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        raise SystemExit(f"the embed ended (status {proc.returncode}) before it was killed; "
                         "give a larger --n")
    return len(list(cache.glob("shard-*.npz"))) * args.batch_size


def check_table(path, reference, n) -> str:
    """Complete (n rows, no duplicate, no NaN) and equal to the uninterrupted table.

    ``reference`` None (no uninterrupted run) checks completeness only.
    """
    from astropy.table import Table

    table = Table.read(path)
    ref = None if reference is None else Table.read(reference)
    features = np.asarray(table["feature"])
    problems = []
    if len(table) != n:
        problems.append(f"{len(table)} rows, expected {n}")
    if len(set(table["source"])) != len(table):
        problems.append("duplicate sources")
    if np.isnan(features).any():
        problems.append("NaN features")
    if ref is None:
        pass
    elif list(table["source"]) != list(ref["source"]):
        problems.append("rows differ from the uninterrupted run")
    elif not np.allclose(features, np.asarray(ref["feature"]), rtol=1e-4, atol=1e-5):
        problems.append("features differ from the uninterrupted run")
    if problems:
        return "FAILED: " + "; ".join(problems)
    same = "" if ref is None else ", equal to the uninterrupted run"
    return f"OK: {n} rows, no duplicate, no NaN{same}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of cutouts")
    parser.add_argument("--folder", type=Path, required=True,
                        help="where the cutouts are (written there when missing)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume test")
    parser.add_argument("--only-kill", action="store_true",
                        help="only the killed-and-resumed job (half the time of both at "
                        "large N): its two parts give the wall time, with no comparison "
                        "table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    write_cutouts(args.folder / "cutouts", args.n)
    args.folder = args.folder / "cutouts"
    work = args.folder.parent / f"run-{args.n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    print(f"{MODEL} at {SIZE} px, random weights (weights=None); batch {args.batch_size}, "
          f"{args.workers} workers; {os.cpu_count()} CPUs, load avg "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    if args.only_kill:
        return killed_and_resumed(args, work, None, None)
    full, full_cache = work / "full.h5", work / "full.parts"
    m = run_job(args, full, full_cache)
    full_wall = m["wall_s"]
    print(f"uninterrupted: {m['wall_s']:.1f} s, {args.n / m['wall_s']:.1f} images/s; peak "
          f"RSS {m['rss_main_mb']:.0f} MB (main), {m['rss_workers_mb']:.0f} MB (largest "
          f"worker); shard cache {folder_mb(full_cache):.1f} MB in "
          f"{len(list(full_cache.glob('shard-*.npz')))} shards; table "
          f"{full.stat().st_size / 2**20:.1f} MB (load avg {os.getloadavg()[0]:.1f})",
          flush=True)
    shutil.rmtree(full_cache)
    if args.no_kill:
        return None

    return killed_and_resumed(args, work, full, full_wall)


def killed_and_resumed(args, work, full, full_wall) -> None:
    """Kill the job at half, resume it; print the times, RSS, cache size and table check."""
    resumed, cache = work / "resumed.h5", work / "resumed.parts"
    start = time.perf_counter()
    left = kill_at_half(args, resumed, cache)
    killed_after = time.perf_counter() - start
    cache_mb = folder_mb(cache)
    m = run_job(args, resumed, cache)
    share = "" if full_wall is None else (
        f" (the uninterrupted run's time for the rows left: "
        f"{full_wall * (args.n - left) / args.n:.1f} s)")
    print(f"killed at {left} of {args.n} rows after {killed_after:.1f} s (shard cache then "
          f"{cache_mb:.1f} MB); resuming took {m['wall_s']:.1f} s{share}; together "
          f"{args.n / (killed_after + m['wall_s']):.1f} images/s; peak RSS "
          f"{m['rss_main_mb']:.0f} MB (main), {m['rss_workers_mb']:.0f} MB (largest worker); "
          f"{check_table(resumed, full, args.n)} (load avg {os.getloadavg()[0]:.1f})",
          flush=True)
    shutil.rmtree(work)
    return None


if __name__ == "__main__":
    main()
