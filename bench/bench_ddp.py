"""Training pairs/s in one process and in two torchrun processes, on this machine.

    python3 bench/bench_ddp.py [--data DIR] [--steps 40] [--set KEY=VALUE ...]

Every row is the real command, ``skeleton-perception train`` (``training/configs/default.yaml``,
batch 8, the data read from shards by the loop's reader thread), started in a fresh
process: one process with one thread (the baseline), one process with two threads, and
``torchrun --standalone --nproc-per-node 2`` (the same global batch of 8, 4 pairs per
process, one thread each) with SyncBatchNorm and with per-process BatchNorm
(``sync_batchnorm=false``). Pairs/s is read from the run's ``log.csv``: the pairs of every
logged interval after the first (start-up, first steps) over their time. The ratio is
against the baseline. The load average is printed before and after: on a shared machine
every row competes with whatever else runs.

Without ``--data`` a small Cartpoles dataset is rendered into a temporary folder
(MuJoCo). On a 2-core machine two processes share the same two cores a single
two-thread process uses: the ratio then measures what DistributedDataParallel costs
(gradient all-reduce, SyncBatchNorm's statistics, two Python processes), not a speed-up;
more processes pay off with more cores, GPUs or machines (docs/training.md).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "default.yaml"
CLI = ["-m", "skeleton_perception.cli"]


def pairs_per_s(log: Path, batch: int) -> float:
    """Pairs/s over the logged intervals after the first one (``batch`` pairs a step)."""
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        raise SystemExit(f"{log}: fewer than 2 log rows; raise --steps")
    steps = int(rows[-1]["step"]) - int(rows[0]["step"])
    seconds = float(rows[-1]["time_s"]) - float(rows[0]["time_s"])
    return steps * batch / seconds


def run(name: str, procs: int, threads: int, extra: list[str], args, out: Path) -> float:
    """Trains ``args.steps`` steps in ``procs`` processes (``out/name``); its pairs/s."""
    run_dir = out / name
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"]
    overrides = [f"threads={threads}", "log_every=5", "plot_every=100000", "ckpt_every=100000"]
    overrides += [f"batch_size={args.batch}", *extra, *args.overrides]
    cmd = launcher + CLI + ["train", "--config", str(args.config), "--data", str(args.data)]
    cmd += ["--out", str(run_dir), "--steps", str(args.steps), "--no-progress", "--set"]
    cmd += overrides
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // procs)))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return pairs_per_s(run_dir / "log.csv", args.batch)


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def render_data(root: Path) -> Path:
    """A small Cartpoles dataset (12 training episodes of 30 frames)."""
    data = root / "cartpoles"
    cmd = [sys.executable, *CLI, "generate", "--dataset", "cartpoles", "--out", str(data)]
    cmd += ["--episodes", "12", "--val-episodes", "1", "--test-episodes", "1"]
    cmd += ["--frames", "30", "--quiet"]
    subprocess.run(cmd, check=True, env=dict(os.environ, MUJOCO_GL="egl"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="dataset root (default: render a small one)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="training config")
    parser.add_argument("--steps", type=int, default=40, help="steps per row (40)")
    parser.add_argument("--batch", type=int, default=8, help="global batch (8)")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
        help="more config overrides for every row",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ddp_") as tmp:
        out = Path(tmp)
        if args.data is None:
            args.data = render_data(out)
        print(f"{os.cpu_count()} CPUs visible; global batch {args.batch}, {args.steps} steps a row")
        print(f"load average before: {load()}")
        rows = [  # label, processes, threads in all, overrides
            ("1 process, 1 thread", 1, 1, []),
            ("1 process, 2 threads", 1, 2, []),
            ("2 processes x 1 thread, SyncBatchNorm", 2, 2, []),
            ("2 processes x 1 thread, per-process BN", 2, 2, ["sync_batchnorm=false"]),
        ]
        base = None
        for i, (label, procs, threads, extra) in enumerate(rows):
            pps = run(f"row{i}", procs, threads, extra, args, out)
            base = base or pps
            print(f"{label:40s} {pps:7.1f} pairs/s  x{pps / base:.2f}", flush=True)
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
