"""Training in two CPU processes under torchrun (Gloo): one process's step, kill and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ddp_float64 import train_float64
from skeleton_perception.training.config import load_config
from skeleton_perception.training.distributed import World, batch_share, world_from_env
from skeleton_perception.training.sim.pairs import PairDataset
from skeleton_perception.training.train import train

from skeleton_perception.checkpoint import CheckpointError, load_checkpoint

HERE = Path(__file__).resolve().parent
# Spatial-softmax points: no Gumbel noise, whose draws differ with the number of processes.
TINY = [
    "model.num_points=8", "model.unet_width=4", "model.psi_width=4", "model.bg_width=4",
    "model.bg_latent=4", "model.point_repr=spatial_softmax", "batch_size=4", "threads=1",
    "log_every=1", "plot_every=1000", "num_samples=2",
]  # fmt: skip


def torchrun(*args: str) -> subprocess.Popen:
    """Two processes on this machine (torchrun's own rendezvous on a free port)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def train_cli(data: Path, out: Path, steps: int, *extra: str) -> subprocess.Popen:
    """``torchrun ... --no-python skeleton-perception train`` (the documented command)."""
    exe = Path(sys.executable).with_name("skeleton-perception")
    argv = ["train", "--data", str(data), "--out", str(out), "--steps", str(steps)]
    return torchrun("--no-python", str(exe), *argv, "--no-progress", *extra)


def read_log_rows(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_two_processes_take_the_step_of_one(tiny_cartpoles, tmp_path):
    overrides = [*TINY, "steps=1", "ckpt_every=1"]
    script = str(HERE / "ddp_float64.py")
    proc = torchrun(script, str(tiny_cartpoles), str(tmp_path / "two"), *overrides)
    train_float64(tiny_cartpoles, tmp_path / "one", overrides)  # meanwhile, one process
    code, out = finish(proc)
    assert code == 0, out
    one = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert two["metadata"]["world_size"] == 2 and one["step"] == two["step"] == 1
    # Weights and BatchNorm running statistics (SyncBatchNorm: over the global batch).
    assert one["model"].keys() == two["model"].keys()
    for k, a in one["model"].items():
        torch.testing.assert_close(two["model"][k], a, rtol=1e-9, atol=1e-11, msg=k)
    # The gradient itself: Adam's first moment after one step is 0.1 * the clipped gradient.
    for i, a in one["optimizer"]["state"].items():
        b = two["optimizer"]["state"][i]
        scale = a["exp_avg"].abs().max().item() + 1e-12
        torch.testing.assert_close(b["exp_avg"], a["exp_avg"], rtol=1e-7, atol=1e-7 * scale)
    # The logged losses are the global batch's (the mean of the processes' means).
    (row_one,), (row_two,) = read_log_rows(tmp_path / "one"), read_log_rows(tmp_path / "two")
    for key in ("total", "recon", "near", "sparse_links", "length"):
        assert float(row_two[key]) == pytest.approx(float(row_one[key]), rel=1e-9), key


def rank_pid(parent: int, rank: int) -> int:
    """The pid of the torchrun worker of ``rank`` below ``parent`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise LookupError(f"no worker of rank {rank} below pid {parent}")


def checkpoint_step(path: Path) -> int:
    try:
        return load_checkpoint(path)["step"]
    except CheckpointError:
        return 0


def test_a_killed_rank_resumes_from_the_checkpoint(tiny_cartpoles, tmp_path):
    out, steps = tmp_path / "run", 16
    extra = ["--set", *TINY, "ckpt_every=2"]
    proc = train_cli(tiny_cartpoles, out, steps, *extra)
    deadline = time.monotonic() + 90
    while checkpoint_step(out / "checkpoint.pt") < 2:
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)[1]
        time.sleep(0.05)
    os.kill(rank_pid(proc.pid, rank=1), signal.SIGKILL)  # rank 1 dies mid-run
    code, log = finish(proc)
    assert code != 0, log  # torchrun stops the other process and fails
    killed_at = checkpoint_step(out / "checkpoint.pt")  # the last whole checkpoint
    assert 2 <= killed_at < steps and killed_at % 2 == 0
    kept = [r for r in read_log_rows(out) if int(r["step"]) <= killed_at]

    code, log = finish(train_cli(tiny_cartpoles, out, steps, "--resume", *extra))
    assert code == 0, log
    assert f"resumed from {out / 'checkpoint.pt'} at step {killed_at} on cpu" in log
    rows = read_log_rows(out)
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    assert rows[:killed_at] == kept  # the log continues after the checkpoint's rows
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == steps and len(ckpt["metadata"]["rank_rng_states"]) == 2

    # Another world size resumes too: one process, two more steps.
    cfg = load_config(None, [*TINY, f"steps={steps + 2}"])
    pairs = PairDataset(tiny_cartpoles, seed=cfg.seed)
    assert train(cfg, pairs, out, resume=True, progress=False)["step"] == steps + 2
    assert load_checkpoint(out / "checkpoint.pt")["step"] == steps + 2


def test_world_from_torchrun_variables():
    assert world_from_env({}) == World() and not World().distributed
    env = dict(WORLD_SIZE="4", RANK="3", LOCAL_RANK="1", LOCAL_WORLD_SIZE="2")
    env.update(MASTER_ADDR="h", MASTER_PORT="1")
    world = world_from_env(env)
    assert world == World(rank=3, local_rank=1, size=4, local_size=2) and not world.is_main
    assert batch_share(world, 8) == slice(6, 8)  # ranks 0..3 read pairs 0-1, 2-3, 4-5, 6-7
    with pytest.raises(ValueError, match="batch_size: 6 pairs do not split over 4"):
        batch_share(world, 6)
    with pytest.raises(ValueError, match="missing MASTER_ADDR, MASTER_PORT"):
        world_from_env(dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0"))


def test_command_line_errors_under_torchrun(monkeypatch, tmp_path, capsys):
    from skeleton_perception.cli import main

    env = dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="h", MASTER_PORT="1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = str(tmp_path / "run")
    assert main(["train", "--data", out, "--out", out, "--set", "batch_size=3"]) == 2
    assert "batch_size: 3 pairs do not split over 2 processes" in capsys.readouterr().err
    assert main(["oracle", "--data", out, "--out", out]) == 2
    assert "oracle: trains in one process" in capsys.readouterr().err
