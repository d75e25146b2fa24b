"""``skeleton-perception generate``: render a dataset's train/val/test shards.

Example::

    skeleton-perception generate --dataset spiders --episodes 1000 --out data/spiders --workers 2

``--randomise`` renders the train/val/test splits with per-episode domain randomisation
(:data:`.appearance.TRAINING`, or :data:`.appearance.BROAD` with ``--look broad``,
:data:`.appearance.DIM` with ``--look dim``);
``--appearance-episodes N`` adds the held-out
``appearance`` split (:data:`.appearance.HELDOUT`), with or without it. ``--plain-twin``
renders the same randomised episodes in the plain look (the pairs of ``distill``).

Every shard is a unit of work: a worker renders its episodes (seeded by dataset, split and
index), writes the shard atomically and the main process records it in the split's
manifest. Re-running the same command skips shards whose file matches the manifest, so an
interrupted run resumes where it stopped and a finished one does nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from skeleton_perception.training.sim.appearance import TRAINING_LOOKS
from skeleton_perception.training.sim.datasets import DATASETS, SPLITS, get_dataset
from skeleton_perception.training.sim.episode import EpisodeConfig
from skeleton_perception.training.sim.storage import (
    check_shard,
    read_manifest,
    shard_name,
    write_manifest,
    write_shard,
)
from tqdm import tqdm

from skeleton_perception.atomic import write_bytes_atomic

FORMAT_VERSION = 1


@dataclass(frozen=True)
class GenerateConfig:
    """What ``generate`` renders.

    Attributes:
        dataset: A key of :data:`DATASETS`.
        out: Output directory.
        counts: Episodes per split, e.g. ``{"train": 1000, "val": 60, "test": 60}``;
            splits left out are not touched.
        episode: Episode length, image size and randomisation of train/val/test.
        shard_size: Episodes per shard.
        seed: Base seed, mixed into every episode's seed.
        workers: Worker processes (1 renders in this process).
    """

    dataset: str
    out: Path
    counts: dict[str, int]
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    shard_size: int = 25
    seed: int = 0
    workers: int = 1

    def identity(self) -> dict:
        """The settings that make the bytes of a shard (counts excluded).

        ``appearance`` is listed only when randomisation is on, so a plain dataset keeps
        the identity it had before randomisation existed.
        """
        identity = {
            "format": FORMAT_VERSION,
            "dataset": self.dataset,
            "size": list(self.episode.size),
            "num_frames": self.episode.num_frames,
            "action_every": self.episode.action_every,
            "shard_size": self.shard_size,
            "seed": self.seed,
        }
        if self.episode.appearance is not None:
            # as JSON has it (lists, not tuples), to compare with dataset.json
            identity["appearance"] = json.loads(json.dumps(asdict(self.episode.appearance)))
        if self.episode.plain_twin:
            identity["plain_twin"] = True
        return identity


@dataclass(frozen=True)
class _Job:
    split: str
    number: int
    first: int
    count: int


def _render_shard(config: GenerateConfig, job: _Job) -> tuple[_Job, dict]:
    spec = get_dataset(config.dataset)
    episodes = [
        spec.episode(job.split, i, config.episode, config.seed)
        for i in range(job.first, job.first + job.count)
    ]
    path = config.out / job.split / shard_name(job.number)
    return job, write_shard(path, episodes)


def _worker_run(args: tuple[GenerateConfig, _Job]) -> tuple[_Job, dict]:
    import cv2

    cv2.setNumThreads(1)
    return _render_shard(*args)


def plan_jobs(config: GenerateConfig) -> tuple[list[_Job], dict[str, dict[str, dict]]]:
    """Shards still to render, and the manifests trimmed to the valid, planned shards."""
    jobs, manifests = [], {}
    for split in (s for s in SPLITS if s in config.counts):
        split_dir = config.out / split
        split_dir.mkdir(parents=True, exist_ok=True)
        for tmp in split_dir.glob(".shard-*.tmp"):
            tmp.unlink()  # left by an interrupted write
        manifest = read_manifest(split_dir)
        keep: dict[str, dict] = {}
        count = config.counts[split]
        for number, first in enumerate(range(0, count, config.shard_size)):
            n = min(config.shard_size, count - first)
            name = shard_name(number)
            entry = manifest.get(name)
            if (
                entry is not None
                and (entry["first"], entry["count"]) == (first, n)
                and check_shard(split_dir / name, entry) is None
            ):
                keep[name] = entry
            else:
                jobs.append(_Job(split, number, first, n))
        for name in set(manifest) - set(keep):  # stale: re-planned or beyond the count
            (split_dir / name).unlink(missing_ok=True)
        write_manifest(split_dir, keep)
        manifests[split] = keep
    return jobs, manifests


def _record(config: GenerateConfig, manifests: dict, job: _Job, entry: dict) -> None:
    manifests[job.split][shard_name(job.number)] = entry
    write_manifest(config.out / job.split, manifests[job.split])


def generate(config: GenerateConfig, progress: bool = True) -> int:
    """Renders every missing shard of ``config``; returns the number of shards written."""
    config.out.mkdir(parents=True, exist_ok=True)
    info_path = config.out / "dataset.json"
    counts = dict(config.counts)
    if info_path.exists():
        old = json.loads(info_path.read_text())
        if old.get("identity") != config.identity():
            raise SystemExit(
                f"{info_path}: {config.out} holds data generated with other settings "
                f"({old.get('identity')}); choose another --out or delete it"
            )
        counts = {**old.get("counts", {}), **counts}  # splits not asked for stay listed
    info = {"identity": config.identity(), "counts": counts}
    write_bytes_atomic(info_path, json.dumps(info, indent=1, sort_keys=True).encode())
    jobs, manifests = plan_jobs(config)
    total = sum(config.counts.values())
    todo = sum(job.count for job in jobs)
    bar = tqdm(
        total=total, initial=total - todo, unit="ep", desc=config.dataset, disable=not progress
    )
    try:
        if config.workers <= 1:
            for job, entry in (_render_shard(config, job) for job in jobs):
                _record(config, manifests, job, entry)
                bar.update(job.count)
        else:
            # spawn, not fork: every worker opens its own GL context from scratch.
            with multiprocessing.get_context("spawn").Pool(config.workers) as pool:
                for job, entry in pool.imap_unordered(_worker_run, [(config, j) for j in jobs]):
                    _record(config, manifests, job, entry)
                    bar.update(job.count)
    finally:
        bar.close()
    return len(jobs)


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return (int(h), int(w or h))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``generate`` options."""
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--episodes", type=int, default=1000, help="train episodes")
    parser.add_argument("--val-episodes", type=int, default=60)
    parser.add_argument("--test-episodes", type=int, default=60, help="the paper keeps 60")
    parser.add_argument(
        "--appearance-episodes",
        type=int,
        default=0,
        help="episodes of the held-out appearance split (test objects, unseen looks)",
    )
    parser.add_argument(
        "--appearance-val-episodes",
        type=int,
        default=0,
        help="episodes of the appearance-val split (val objects, a third look for choosing)",
    )
    parser.add_argument(
        "--randomise",
        action="store_true",
        help="domain randomisation of train/val/test (textures, light, camera, colours)",
    )
    parser.add_argument(
        "--look",
        choices=sorted(TRAINING_LOOKS),
        default="training",
        help="the ranges of --randomise: training (appearance.TRAINING), broad "
        "(appearance.BROAD: camera and sensor beyond the held-out look's) or dim "
        "(appearance.DIM: light and bodies darker than the held-out look's)",
    )
    parser.add_argument(
        "--plain-twin",
        action="store_true",
        help="render the episodes of --randomise (and the appearance split) in the plain "
        "look: the same poses, cameras and ground truth (for distill)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--size", type=_size, default=(64, 64), help="HxW or N (default 64)")
    parser.add_argument("--frames", type=int, default=90, help="frames per episode")
    parser.add_argument("--action-every", type=int, default=5, help="frames per random action")
    parser.add_argument("--shard-size", type=int, default=25, help="episodes per shard")
    parser.add_argument("--seed", type=int, default=0, help="base seed of every episode")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Runs ``generate``."""
    if args.plain_twin and not args.randomise:
        print("generate: --plain-twin needs --randomise (the looks it pairs with)", file=sys.stderr)
        return 2
    if args.look != "training" and not args.randomise:
        print("generate: --look needs --randomise (the ranges it picks)", file=sys.stderr)
        return 2
    counts = {"train": args.episodes, "val": args.val_episodes, "test": args.test_episodes}
    if args.appearance_episodes:
        counts["appearance"] = args.appearance_episodes
    if args.appearance_val_episodes:
        counts["appearance-val"] = args.appearance_val_episodes
    config = GenerateConfig(
        dataset=args.dataset,
        out=args.out,
        counts=counts,
        episode=EpisodeConfig(
            num_frames=args.frames,
            action_every=args.action_every,
            size=tuple(args.size),
            appearance=TRAINING_LOOKS[args.look] if args.randomise else None,
            plain_twin=args.plain_twin,
        ),
        shard_size=args.shard_size,
        seed=args.seed,
        workers=args.workers,
    )
    if min(config.counts.values()) < 0 or config.shard_size < 1 or args.frames < 2:
        print("generate: counts must be >= 0, --shard-size >= 1, --frames >= 2", file=sys.stderr)
        return 2
    written = generate(config, progress=not args.quiet)
    print(f"{config.out}: {written} shard(s) written, {sum(config.counts.values())} episodes")
    return 0
