"""Generation speed per dataset, one process and 2 workers, against a naive dm_control render.

Ours: a whole episode per object (physics, camera plan, projection, render at 64x64 with
shadows, reflections and MSAA off, a 64x64 offscreen buffer and coarse tessellation).
Randomised: the same with domain randomisation on (``appearance.TRAINING``: a textured
floor and sky, a light that casts shadows in 30% of the episodes, distractors, recoloured
objects, noise, blur and JPEG), measured in the same run, with its ratio to plain (the
target of issue 16: >= 600 frames/s per process). Naive: the same objects stepped and
rendered with ``dm_control.mujoco.Physics.render`` at MuJoCo's default quality (shadows,
4x MSAA, 640x480 offscreen buffer), in this process.

    .venv/bin/python bench/bench_generate.py [--episodes 5] [--workers 2]
    .venv/bin/python bench/bench_generate.py --naive-episodes 0 --workers 0  # ours only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from skeleton_perception.training.sim import families  # sets MUJOCO_GL first
from skeleton_perception.training.sim.appearance import TRAINING
from skeleton_perception.training.sim.datasets import DATASETS, episode_seed
from skeleton_perception.training.sim.episode import EpisodeConfig
from skeleton_perception.training.sim.generate import GenerateConfig, generate

TARGET = 600  # randomised frames/s per process (issue 16)


def ours(name: str, episodes: int, config: EpisodeConfig) -> float:
    spec = DATASETS[name]
    spec.episode("train", 10_000, config)  # warm up imports and the GL context
    start = time.perf_counter()
    for i in range(episodes):
        spec.episode("train", i, config)
    return episodes * config.num_frames / (time.perf_counter() - start)


def naive(name: str, episodes: int, config: EpisodeConfig) -> float:
    from dm_control import mujoco as dm_mujoco
    from dm_control.mujoco import wrapper

    spec = DATASETS[name]
    height, width = config.size
    frames, elapsed = 0, 0.0
    for i in range(episodes):
        rng = np.random.default_rng(episode_seed(name, "naive", i))
        obj = families.build(spec.train[i % len(spec.train)], rng)
        model = obj.model
        model.vis.quality.shadowsize = 4096  # MuJoCo's defaults
        model.vis.quality.offsamples = 4
        model.vis.quality.numslices, model.vis.quality.numstacks = 28, 16
        model.vis.global_.offwidth, model.vis.global_.offheight = 640, 480
        model.light_castshadow[:] = 1
        physics = dm_mujoco.Physics.from_model(wrapper.MjModel(model))
        physics.render(height, width, camera_id=0)  # context creation is not timed
        start = time.perf_counter()
        for t in range(config.num_frames):
            if t % config.action_every == 0:
                physics.data.ctrl[:] = rng.uniform(-1, 1, size=model.nu)
            for _ in range(obj.frame_skip):
                physics.step()
            physics.render(height, width, camera_id=0)
            frames += 1
        elapsed += time.perf_counter() - start
        physics.free()
    return frames / elapsed


def with_workers(workers: int, episodes: int, config: EpisodeConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        gen = GenerateConfig(
            dataset="spiders",
            out=Path(tmp) / "spiders",
            counts={"train": episodes, "val": 0, "test": 0},
            episode=config,
            shard_size=max(1, episodes // (2 * workers)),
            workers=workers,
        )
        start = time.perf_counter()
        generate(gen, progress=False)
        return episodes * config.num_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5, help="episodes per dataset (ours)")
    parser.add_argument("--naive-episodes", type=int, default=1, help="0: skip naive")
    parser.add_argument("--workers", type=int, default=2, help="0: skip the generate runs")
    args = parser.parse_args()
    config = EpisodeConfig()
    randomised = EpisodeConfig(appearance=TRAINING)
    print(
        f"{'dataset':<14}{'ours fr/s':>11}{'randomised':>12}{'ratio':>8}"
        f"{'naive fr/s':>12}{'ours/naive':>12}"
    )
    slowest = float("inf")
    for name in DATASETS:
        fast = ours(name, args.episodes, config)
        dressed = ours(name, args.episodes, randomised)
        slowest = min(slowest, dressed)
        line = f"{name:<14}{fast:>11.0f}{dressed:>12.0f}{dressed / fast:>7.2f}x"
        if args.naive_episodes > 0:
            slow = naive(name, args.naive_episodes, config)
            line += f"{slow:>12.0f}{fast / slow:>11.1f}x"
        print(line, flush=True)
    verdict = "met" if slowest >= TARGET else "not met"
    print(f"randomised, slowest dataset: {slowest:.0f} fr/s (target {TARGET}: {verdict})")
    if args.workers < 1:
        return
    # Enough episodes that starting the worker processes (imports, GL) does not dominate.
    one = with_workers(1, 10 * args.episodes, config)
    many = with_workers(args.workers, 10 * args.episodes, config)
    print(
        f"generate spiders (shards written): 1 worker {one:.0f} fr/s, "
        f"{args.workers} workers {many:.0f} fr/s ({many / one:.2f}x)"
    )


if __name__ == "__main__":
    main()
