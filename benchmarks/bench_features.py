#!/usr/bin/env python3
"""Feature-engine benchmark: prints figures (it asserts nothing; README quotes what it prints).

    python benchmarks/bench_features.py [--wav DIR] [--baseline-clips 60] [--big 10000]

1. acoustic view, one process, vs the notebooks' approach (../shared/bench/seed_features.py)
   on the same clips, in the same run (baseline runs alternated with ours, to even out other load);
2. logmel view, one process, all clips;
3. acoustic and logmel with all cores (joblib processes);
4. cache: data preparation (extract_view) first run vs second run with the same config;
5. streaming: a 10,000-utterance manifest (the clips repeated) extracted as logmel in a fresh
   process; peak RSS of the parent and of the largest worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The workplace's shared folder sits beside the repository (../shared), wherever that is checked out.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED = SHARED / "bench" / "seed_features.py"
EMODB = SHARED / "data" / "emodb" / "wav"


def run_ours(files: list[Path], view: str, jobs: int) -> tuple[float, float]:
    """(audio seconds, wall seconds) of extracting `files` without cache, after an untimed warm-up."""
    from ser.features.config import make_config
    from ser.features.extract import Item, extract_to_folder

    cfg = make_config({"view": view})
    items = [Item(f.name, str(f)) for f in files]
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: first calls build filters, plans, workers
        extract_to_folder(items[:2], cfg, Path(tmp), jobs=1, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        meta = extract_to_folder(items, cfg, Path(tmp), jobs=jobs, progress=False)
        wall = time.perf_counter() - t0
    return meta["audio_seconds"], wall


def run_seed(wav_dir: Path, n: int) -> float:
    out = subprocess.run(
        [sys.executable, str(SEED), str(wav_dir), "--limit", str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"x_realtime=([\d.]+)", out).group(1))


def manifest_for(files: list[Path], n: int):
    """A manifest of n rows cycling through `files` (unique ids, repeated audio)."""
    import pandas as pd
    import soundfile as sf

    durs = {f: sf.info(str(f)).duration for f in files}
    rows = [{"utterance_id": f"u{i:05d}", "path": str(files[i % len(files)]), "offset": 0.0,
             "duration": durs[files[i % len(files)]]} for i in range(n)]  # fmt: skip
    return pd.DataFrame(rows)


def big_child(files_json: str, n: int, cache: str) -> None:
    """Run in a fresh process: extract n utterances as logmel, read them all, report peak RSS."""
    from joblib.externals.loky import get_reusable_executor

    from ser.features import extract_view

    files = [Path(f) for f in json.loads(files_json)]
    manifest = manifest_for(files, n)
    t0 = time.perf_counter()
    fs = extract_view(manifest, {"view": "logmel"}, cache_dir=cache, progress=False)
    wall = time.perf_counter() - t0
    before_reading = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checksum = sum(float(x[:, ::50].sum()) for x in fs.data)  # touch every utterance (pages of each)
    get_reusable_executor().shutdown(wait=True)
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "n": len(fs.ids),
                "wall": wall,
                "audio": float(json.loads((fs.path / "meta.json").read_text())["audio_seconds"]),
                "parent_mb": parent,
                "parent_before_read_mb": before_reading,
                "child_mb": child,
                "sum": checksum,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wav", type=Path, default=EMODB)
    ap.add_argument("--baseline-clips", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2, help="baseline runs, alternated with ours")
    ap.add_argument("--big", type=int, default=10000, help="utterances in the streaming test (0: skip)")
    ap.add_argument("--big-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.big_child:
        big_child(a.big_child[0], int(a.big_child[1]), a.big_child[2])
        return 0
    import torch

    torch.set_num_threads(1)
    files = sorted(a.wav.rglob("*.wav"))
    if not files:
        print(f"no wav files under {a.wav}", file=sys.stderr)
        return 1
    same = files[: a.baseline_clips]
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.processor() or platform.platform()}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"clips: {len(files)} from {a.wav} (baseline on the first {len(same)})")

    # Other people's jobs share this machine: alternate ours and the baseline, and compare the sums.
    ours_s = ours_w = 0.0
    seed_rates = []
    for _ in range(a.rounds):
        s, w = run_ours(same, "acoustic", jobs=1)
        ours_s, ours_w = ours_s + s, ours_w + w
        if SEED.exists():
            seed_rates.append(run_seed(a.wav, len(same)))
    s, w = run_ours(same, "acoustic", jobs=1)
    ours_x = (ours_s + s) / (ours_w + w)
    seed_x = sum(seed_rates) / len(seed_rates) if seed_rates else float("nan")
    print(
        f"acoustic 1 process, same {len(same)} clips: {ours_x:.0f}x real time; seed baseline "
        f"{seed_x:.1f}x (rounds: {', '.join(f'{r:.1f}' for r in seed_rates)}) -> {ours_x / seed_x:.1f}x the baseline"
    )
    for view in ("acoustic", "logmel", "sequence"):
        s, w = run_ours(files, view, jobs=1)
        print(
            f"{view} 1 process, all {len(files)} clips ({s:.0f} s audio): {s / w:.0f}x real time ({w:.2f} s)"
        )
    for view in ("acoustic", "logmel"):
        s, w = run_ours(files, view, jobs=-1)
        print(f"{view} all cores ({os.cpu_count()}), all clips: {s / w:.0f}x real time ({w:.2f} s)")

    from ser.features import extract_view

    manifest = manifest_for(files, len(files))
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        first = extract_view(manifest, {"view": "acoustic"}, cache_dir=cache, progress=False)
        t1 = time.perf_counter()
        second = extract_view(manifest, {"view": "acoustic"}, cache_dir=cache, progress=False)
        t2 = time.perf_counter()
        m2 = second.matrix()
        t3 = time.perf_counter()
    assert not first.cache_hit and second.cache_hit
    print(f"cache: first extract_view {t1 - t0:.2f} s (miss), second {t2 - t1:.4f} s (hit, +{t3 - t2:.4f} s "
          f"to stack {m2.shape}) -> {(t1 - t0) / (t2 - t1):.0f}x faster")  # fmt: skip

    if a.big:
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run(
                [sys.executable, __file__, "--big-child", json.dumps([str(f) for f in files]), str(a.big), cache],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        r = json.loads(out.strip().splitlines()[-1])
        print(f"streaming: {r['n']} utterances ({r['audio'] / 3600:.1f} h) logmel, all cores, in {r['wall']:.1f} s "
              f"({r['audio'] / r['wall']:.0f}x real time); peak RSS parent "
              f"{r['parent_mb']:.0f} MB, largest worker {r['child_mb']:.0f} MB; parent {r['parent_before_read_mb']:.0f} MB before reading every utterance "
              f"through the memory map (torch alone: ~660 MB here)")  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
