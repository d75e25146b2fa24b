"""``skeleton-perception train-transporter``: train the Transporter baseline on image pairs.

Trains on the same (source, target) pairs as our model (two random frames of one training
episode, :class:`skeleton_perception.training.sim.pairs.PairDataset`). Writes into ``--out``:

* ``checkpoint.pt``: written atomically every ``--save-every`` steps and at the end; holds
  ``config``, ``model``, ``optimizer``, ``step`` and ``metadata`` (dataset, hardware,
  training seconds), all loadable with ``torch.load(..., weights_only=True)``. Running the
  same command again resumes from it (the pair sampling order is not restored).
* ``log.csv``: step, loss, seconds.

Example::

    skeleton-perception train-transporter --data data/cartpoles \
        --out runs/transporter-cartpoles --steps 3000
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from skeleton_perception.training.baselines.transporter import Transporter, TransporterConfig
from skeleton_perception.training.runinfo import hardware

from skeleton_perception.atomic import atomic_path

CHECKPOINT = "checkpoint.pt"
LOG = "log.csv"
FORMAT = "transporter-v1"


@dataclass
class TrainConfig:
    """Optimisation settings (defaults: the CPU configuration documented in docs/evaluation.md).

    Attributes:
        steps: total optimisation steps.
        batch_size: pairs per step.
        lr: Adam learning rate (the official example uses 1e-3).
        save_every: steps between checkpoints.
        log_every: steps between CSV rows.
        seed: seeds the weights and the pair sampling.
    """

    steps: int = 3000
    batch_size: int = 16
    lr: float = 1e-3
    save_every: int = 250
    log_every: int = 10
    seed: int = 0


def save_checkpoint(path: Path, payload: dict) -> None:
    """Writes a checkpoint atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[Transporter, dict]:
    """Loads a trained Transporter in eval mode and its checkpoint dict."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a Transporter checkpoint (format {ckpt.get('format')!r})")
    model = Transporter(TransporterConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def _truncate_log(path: Path, step: int) -> None:
    """Drops log rows after ``step`` (written after the last checkpoint of a killed run)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(keep) != len(rows):
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)


def train(
    model_cfg: TransporterConfig,
    train_cfg: TrainConfig,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    out: str | Path,
    metadata: dict | None = None,
    progress: bool = True,
) -> Path:
    """Trains (or resumes) a Transporter; returns the checkpoint path.

    Args:
        model_cfg: architecture (ignored when resuming: the checkpoint's is used).
        train_cfg: optimisation settings.
        batches: endless iterator of (source, target) float tensors (B, 3, H, W) in [0, 1].
        out: output folder for ``checkpoint.pt`` and ``log.csv``.
        metadata: extra fields stored in the checkpoint (dataset name, data path...).
        progress: show a tqdm progress bar.
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    torch.manual_seed(train_cfg.seed)
    step, seconds_before = 0, 0.0
    if ckpt_path.exists():
        model, ckpt = load_checkpoint(ckpt_path)
        model_cfg = model.cfg
        step = int(ckpt["step"])
        seconds_before = float(ckpt["metadata"].get("train_seconds", 0.0))
    else:
        model, ckpt = Transporter(model_cfg), None
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    if ckpt is not None:
        opt.load_state_dict(ckpt["optimizer"])
    model.train()
    meta = dict(ckpt["metadata"]) if ckpt is not None else {}
    meta.update(metadata or {})
    meta.update(hardware=hardware(), train_config=asdict(train_cfg), torch=str(torch.__version__))
    # Every (re)start with its settings, so a resumed run says how it was trained.
    meta["segments"] = [*meta.get("segments", []), {"from_step": step, **asdict(train_cfg)}]
    _truncate_log(out / LOG, step)

    def save() -> None:
        meta["train_seconds"] = seconds_before + (time.monotonic() - start)
        payload = {
            "format": FORMAT,
            "config": model_cfg.to_dict(),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "metadata": meta,
        }
        save_checkpoint(ckpt_path, payload)

    new_log = not (out / LOG).exists()
    start = time.monotonic()
    with open(out / LOG, "a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["step", "loss", "seconds"])
        bar = tqdm(total=train_cfg.steps, initial=step, disable=not progress, desc="transporter")
        while step < train_cfg.steps:
            source, target = next(batches)
            loss = model.loss(source, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            if step % train_cfg.log_every == 0 or step == train_cfg.steps:
                elapsed = seconds_before + time.monotonic() - start
                log.writerow([step, f"{loss.item():.6f}", f"{elapsed:.1f}"])
                log_file.flush()
                bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % train_cfg.save_every == 0 or step == train_cfg.steps:
                save()
        bar.close()
    if step == 0 or not ckpt_path.exists():
        save()
    return ckpt_path


class _FramePairs:
    """Two random frames of one random training episode (used if ``sim.pairs`` is absent).

    The same sampling as the paper ("we sample a pair by selecting two random frames from
    the episode"), read straight from the :class:`EpisodeStore`.
    """

    def __init__(self, store, seed: int):
        self.store = store
        self.rng = np.random.default_rng(seed)
        self.num_frames = [store.meta(i)["num_frames"] for i in range(len(store))]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = [], []
        for _ in range(size):
            e = int(self.rng.integers(len(self.store)))
            a, b = self.rng.integers(self.num_frames[e], size=2)
            frames = self.store.frames(e, [int(a), int(b)])  # (2, H, W, 3) uint8
            src.append(frames[0])
            tgt.append(frames[1])

        def to_tensor(x: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(x)).permute(0, 3, 1, 2).float() / 255.0

        return to_tensor(src), to_tensor(tgt)


def pair_batches(
    data: str, batch_size: int, seed: int, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (source, target) batches from the training split of a generated dataset.

    Uses the project's :class:`~skeleton_perception.training.sim.pairs.PairDataset` (the
    pairs our model trains on) when it exists, else :class:`_FramePairs`.
    """
    try:
        from skeleton_perception.training.sim.pairs import PairDataset
    except ImportError:
        from skeleton_perception.training.sim.storage import EpisodeStore

        sampler = _FramePairs(EpisodeStore(data, "train"), seed)
        while True:
            yield sampler.batch(batch_size)
    from torch.utils.data import DataLoader

    loader = DataLoader(
        PairDataset(data, "train"),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )
    while True:
        for item in loader:
            yield item["source"].float(), item["target"].float()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``train-transporter``."""
    parser.add_argument("--data", required=True, help="dataset folder from `generate`")
    parser.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv)")
    parser.add_argument("--dataset", help="dataset name (default: from --data/dataset.json)")
    parser.add_argument(
        "--num-keypoints",
        type=int,
        help="K (default: the dataset's maximum number of joints, as in the paper)",
    )
    defaults = TrainConfig()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception train-transporter``."""
    from skeleton_perception.training.sim.datasets import get_dataset
    from skeleton_perception.training.sim.storage import dataset_name

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_dataset(dataset_name(args.data, args.dataset))
    k = args.num_keypoints or int(spec.max_joints)
    model_cfg = TransporterConfig(num_keypoints=k)
    train_cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        save_every=args.save_every,
        seed=args.seed,
    )
    batches = pair_batches(args.data, args.batch_size, args.seed, args.workers)
    path = train(
        model_cfg,
        train_cfg,
        batches,
        args.out,
        metadata={"dataset": spec.name, "data": str(args.data)},
        progress=not args.no_progress,
    )
    print(f"checkpoint: {path}")
    return 0
