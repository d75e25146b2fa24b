"""Fine-tuning on a recorded bag must not make the model worse on that family.

The check behind issue 7's "a fine-tune run on a recorded simulated bag starts from the
default model and its evaluation is no worse than before fine-tuning on that family":

1. record two simulated bags of the family with ``record-sim`` (``train.mcap`` seed 0,
   ``test.mcap`` seed 1: different objects and motions);
2. score the starting model (default: the shipped one) on ``test.mcap`` with the paper's
   metrics, using the ground truth recorded in the bag;
3. fine-tune it with ``skeleton-perception train --bag train.mcap --init default``
   (``--mode api``: in-process, with ``build_bag_datasets`` and ``train.train``, using the
   starting checkpoint's own config, so the architecture always matches);
4. score the fine-tuned ``checkpoint.pt`` on ``test.mcap`` the same way;
5. print both rows side by side for each predicted-joint set of the protocol
   (``--joint-sets``; docs/evaluation.md), write ``finetune_bag.json``, and exit 0 if joint
   F1 and structure F1 did not drop by more than ``--tolerance`` in any of them (else 1).
   An F1 that is undefined before and after (no predicted link) is reported, not compared.

Usage (minutes on a 2-core CPU with the defaults)::

    .venv/bin/python bench/finetune_bag.py --family spiders --out runs/finetune_bag \
        [--init PATH] [--steps 2000] [--train-args "--set lr=3e-4"]

Nothing here fabricates numbers: without a model to start from it stops and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "skeleton_perception.cli"]
ROWS = [("joints", "f1"), ("joints", "prec"), ("joints", "rec"), ("joints", "dist"),
        ("joints", "consistency"), ("joints", "diff"), ("structure", "f1"),
        ("structure", "bcc"), ("structure", "acc")]  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", default="spiders")
    p.add_argument("--out", type=Path, default=Path("runs/finetune_bag"))
    p.add_argument("--init", default="default", help="'default' (shipped) or a checkpoint")
    p.add_argument("--frames", type=int, default=900, help="frames of the training bag")
    p.add_argument("--test-frames", type=int, default=600, help="frames of the test bag")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--steps", type=int, default=2000, help="fine-tuning steps")
    p.add_argument("--train-args", default="", help="extra arguments for `train`, quoted")
    p.add_argument("--tolerance", type=float, default=0.02, help="allowed F1 drop")
    p.add_argument("--device", default="cpu")
    p.add_argument("--mode", choices=("cli", "api"), default="cli", help="how to fine-tune")
    p.add_argument(
        "--seeds", type=int, default=5, help="structure-frame seeds averaged (see score())"
    )
    p.add_argument(
        "--joint-sets",
        default="frame,structure-frame",
        help="comma-separated predicted-joint sets to score (docs/evaluation.md)",
    )
    return p.parse_args()


def sh(cmd: list[str]) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)


def record(args: argparse.Namespace, name: str, frames: int, seed: int) -> Path:
    path = args.out / name
    if not path.exists():
        sh([*CLI, "record-sim", "--family", args.family, "--frames", str(frames),
            "--seed", str(seed), "--out", str(path), "--width", str(args.width),
            "--height", str(args.height)])  # fmt: skip
    return path


class CachedPredictor:
    """Runs a predictor once per episode (scoring several structure-frame seeds reuses it)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.name, self.has_structure = predictor.name, predictor.has_structure
        self.cache: dict[int, list] = {}

    def predict_episode(self, frames, episode_index: int) -> list:
        if episode_index not in self.cache:
            self.cache[episode_index] = self.predictor.predict_episode(frames, episode_index)
        return self.cache[episode_index]


def mean_summary(summaries: list[dict]) -> dict:
    """Leaf-wise mean of evaluator summaries (NaN where a value is undefined)."""
    out: dict = {}
    for key, value in summaries[0].items():
        if isinstance(value, dict):
            out[key] = mean_summary([s[key] for s in summaries])
        elif isinstance(value, (int, float)) or value is None:
            vals = [float("nan") if s[key] is None else float(s[key]) for s in summaries]
            same = all(s[key] == value for s in summaries)  # counts, and seed-free metrics
            out[key] = value if same else sum(vals) / len(vals)
    return out


def score(bag: Path, checkpoint: str | None, family: str, device: str, joint_sets, seeds: int):
    """{joint set: summary averaged over ``seeds`` structure-frame seeds} of a checkpoint.

    The protocol takes S (and, for the structure-frame joint set, the joints) from one
    random frame per episode; on a bag of a few episodes that draw dominates the score, so
    the expectation over the draw is estimated from several seeds.
    """
    from skeleton_perception.training.bags.scoring import evaluate_bag
    from skeleton_perception.training.evaluation.predictors import OursPredictor
    from skeleton_perception.training.sim.datasets import get_dataset

    predictor = CachedPredictor(OursPredictor(checkpoint, device=device))
    epsilon = float(get_dataset(family).epsilon)
    return {
        js: mean_summary(
            [
                evaluate_bag(bag, predictor, epsilon=epsilon, joint_set=js, seed=seed)
                for seed in range(seeds)
            ]
        )
        for js in joint_sets
    }


def finetune_api(args: argparse.Namespace, bag: Path, run_dir: Path) -> None:
    """Fine-tunes in-process from the starting checkpoint, with that checkpoint's config."""
    from skeleton_perception.training.bags.dataset import build_bag_datasets
    from skeleton_perception.training.config import TrainConfig
    from skeleton_perception.training.train import train

    from skeleton_perception.checkpoint import load_checkpoint
    from skeleton_perception.detector import DEFAULT_WEIGHTS

    init = DEFAULT_WEIGHTS if args.init == "default" else Path(args.init)
    cfg = TrainConfig.from_dict(load_checkpoint(init)["config"])
    cfg.steps = args.steps
    dataset, _ = build_bag_datasets(bag, "/camera/image_raw", val_fraction=0.0, seed=cfg.seed,
                                    input_size=cfg.model.image_size)  # fmt: skip
    train(cfg, dataset, run_dir, init=init)


def main() -> int:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from skeleton_perception.checkpoint import CheckpointError

    init = None if args.init == "default" else args.init
    joint_sets = [j.strip() for j in args.joint_sets.split(",") if j.strip()]
    train_bag = record(args, "train.mcap", args.frames, seed=0)
    test_bag = record(args, "test.mcap", args.test_frames, seed=1)
    try:
        before = score(test_bag, init, args.family, args.device, joint_sets, args.seeds)
    except CheckpointError as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 2

    run_dir = args.out / "run"
    start = time.monotonic()
    if args.mode == "api":
        finetune_api(args, train_bag, run_dir)
    else:
        config = (
            Path(__file__).resolve().parents[1] / "training" / "configs" / f"{args.family}.yaml"
        )
        cmd = [*CLI, "train", "--bag", str(train_bag), "--topic", "/camera/image_raw",
               "--init", args.init, "--out", str(run_dir), "--steps", str(args.steps)]  # fmt: skip
        if config.exists():
            cmd += ["--config", str(config)]
        cmd += shlex.split(args.train_args)
        try:
            sh(cmd)
        except subprocess.CalledProcessError as err:
            print(f"train failed (exit {err.returncode}); try --mode api", file=sys.stderr)
            return 2
    train_minutes = (time.monotonic() - start) / 60
    after = score(
        test_bag, str(run_dir / "checkpoint.pt"), args.family, args.device, joint_sets, args.seeds
    )

    first = after[joint_sets[0]]
    print(f"\n{args.family}: {test_bag} ({first['num_episodes']} episodes, "
          f"{first['num_frames']} frames), fine-tuned {args.steps} steps in "
          f"{train_minutes:.1f} min")  # fmt: skip
    drops, undefined = {}, []
    for js in joint_sets:
        print(f"\npredicted joints: {js}\n{'metric':<22}{'before':>10}{'after':>10}")
        for group, key in ROWS:
            b, a = (before[js].get(group) or {}).get(key), (after[js].get(group) or {}).get(key)
            if b is not None and a is not None:
                print(f"{group + ' ' + key:<22}{b:>10.3f}{a:>10.3f}")
        for g in ("joints", "structure"):
            b, a = before[js][g].get("f1"), after[js][g].get("f1")
            if b is None or a is None or math.isnan(b) or math.isnan(a):
                undefined.append(f"{js} {g} f1")
            else:
                drops[f"{js} {g} f1"] = b - a
    ok = all(d <= args.tolerance for d in drops.values())
    result = dict(family=args.family, init=args.init, steps=args.steps,
                  train_minutes=train_minutes, before=before, after=after, drops=drops,
                  undefined=undefined, no_worse=ok, tolerance=args.tolerance)  # fmt: skip
    (args.out / "finetune_bag.json").write_text(json.dumps(result, indent=2, default=float))
    print(
        ("\nno worse" if ok else "\nWORSE")
        + f" (F1 drops {drops}, tolerance {args.tolerance}"
        + (f"; undefined before or after: {undefined}" if undefined else "")
        + ")"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
