"""The oracle: our networks trained *with* the simulator's joints and links (a ceiling).

``skeleton-perception oracle --data D --out O --steps N [--set key=value ...]`` trains an
ordinary :class:`~skeleton_perception.nn.model.SkeletonModel` (the same π and ψ, the same
config, optimiser and batch as ``skeleton-perception train``) supervised by the ground truth
that the unsupervised model never sees. Its scores are the ceiling that every unsupervised
row is read against; it is never shipped as a default model.

Supervision, per image (both frames of every :class:`PairDataset` pair are used, so a batch
of ``batch_size`` pairs is ``2 * batch_size`` images). Point channel j stands for
ground-truth joint j of the episode (joint indices are fixed within a family and episode):

- π: a softmax cross-entropy of channel j's logits over the H*W pixels towards ground-truth
  joint j, the target a Gaussian of ``point_sigma`` px at the joint (0: its nearest pixel),
  for channels with a real joint that is visible in the image; the other channels are free;
- ψ: a binary cross-entropy of the link logits (:meth:`SkeletonModel.link_logits`, ψ fed
  the maps π predicts, as at inference) against the ground-truth adjacency padded to P:
  every pair with a channel j >= J (no joint) has target 0, so those points are never
  linked and the detector (joints = points with a link S > 0.5) does not publish them.

B (the background network) has no loss here and keeps its initial weights; the detector
does not use it. The checkpoint is an ordinary one (``config`` holds the
:class:`~skeleton_perception.training.config.TrainConfig`, the oracle's own settings and
``method`` are in ``metadata``), so ``SkeletonDetector.from_checkpoint`` and
``skeleton-perception evaluate --model ours`` take it unchanged.

Outputs in ``--out``: ``config.yaml`` (with the oracle's keys), ``log.csv``,
``checkpoint.pt`` (atomic, every ``ckpt_every`` steps; ``--resume`` continues from it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset

from skeleton_perception.checkpoint import save_checkpoint
from skeleton_perception.nn.model import SkeletonModel
from skeleton_perception.nn.points import index_to_xy, pixel_grid
from skeleton_perception.nn.skeleton_net import pair_indices

from .config import TrainConfig, load_config, parse_override, save_config, set_value
from .distributed import world_from_env
from .runinfo import hardware
from .sim.storage import dataset_name
from .train import append_log_row, optimize, restart_log, resume_weights, start_run

METHOD = "oracle (supervised with simulator joints and links)"
LOG_FIELDS = (
    "step", "time_s", "images_per_s", "total", "points", "links", "point_err_px",
    "link_prec", "link_rec",
)  # fmt: skip


@dataclass
class OracleConfig(TrainConfig):
    """A :class:`TrainConfig` plus the supervised losses' settings.

    Of the inherited fields the oracle uses ``model``, ``steps``, ``batch_size`` (pairs;
    both frames are used), ``lr``, ``betas``, the gradient clipping, ``min_gap``, ``seed``,
    ``threads``, ``device``, ``log_every``, ``ckpt_every`` and ``dataset``; the loss
    section, the ramp, τ schedule and module lists belong to the unsupervised training.

    Attributes:
        point_sigma: px; standard deviation of the Gaussian target of a point channel
            (0: the one-hot of the joint's nearest pixel).
        point_weight: weight of the point cross-entropy.
        link_weight: weight of the link binary cross-entropy.
        link_pos_weight: weight of the positive pairs in it (few of the P(P-1)/2 pairs
            are links: about 5 of 496 on Cartpoles).
    """

    point_sigma: float = 1.0
    point_weight: float = 1.0
    link_weight: float = 1.0
    link_pos_weight: float = 1.0

    def oracle_dict(self) -> dict:
        """The oracle's own settings (the fields a TrainConfig does not have)."""
        return {k: getattr(self, k) for k in ORACLE_KEYS}

    def train_config(self) -> TrainConfig:
        """The inherited part, a plain :class:`TrainConfig` (what the checkpoint stores)."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in _TRAIN_FIELDS})


_TRAIN_FIELDS = dataclasses.fields(TrainConfig)
_TRAIN_KEYS = {f.name for f in _TRAIN_FIELDS}
ORACLE_KEYS = tuple(f.name for f in dataclasses.fields(OracleConfig) if f.name not in _TRAIN_KEYS)


def load_oracle_config(path: str | Path | None = None, overrides=()) -> OracleConfig:
    """Defaults <- YAML file (TrainConfig keys) <- ``key=value`` overrides, validated.

    Raises:
        ValueError: naming the bad key or value.
    """
    ours = [t for t in overrides if parse_override(t)[0] in ORACLE_KEYS]
    base = load_config(path, [t for t in overrides if t not in ours])
    cfg = OracleConfig(**{f.name: getattr(base, f.name) for f in _TRAIN_FIELDS})
    for text in ours:
        set_value(cfg, *parse_override(text))
    if cfg.point_sigma < 0 or min(cfg.point_weight, cfg.link_weight, cfg.link_pos_weight) < 0:
        raise ValueError("config point_sigma, point_weight, link_weight, link_pos_weight: >= 0")
    return cfg


def point_targets(
    joints: torch.Tensor, valid: torch.Tensor, height: int, width: int, sigma: float
) -> torch.Tensor:
    """Target distributions over the pixels for π's channels.

    Args:
        joints: (N, P, 2) ground-truth pixel xy of the joint of each channel (padded).
        valid: (N, P) bool, channels with a real, visible joint.
        height: H of the maps.
        width: W of the maps.
        sigma: px, standard deviation of the Gaussian (0: one-hot at the nearest pixel).

    Returns:
        (N, P, H*W) distributions summing to 1 (row-major pixels); all-zero rows where not
        ``valid``.
    """
    if sigma > 0:
        grid = pixel_grid(height, width, joints.device, joints.dtype)  # (HW, 2)
        d2 = (grid[None, None] - joints[:, :, None]).square().sum(-1)  # (N, P, HW)
        target = torch.softmax(-d2 / (2 * sigma**2), dim=-1)
    else:
        x = joints[..., 0].round().clamp(0, width - 1).long()  # (N, P)
        y = joints[..., 1].round().clamp(0, height - 1).long()
        target = F.one_hot(y * width + x, height * width).to(joints.dtype)  # (N, P, HW)
    return target * valid[..., None].to(target.dtype)


def link_targets(adjacency: torch.Tensor) -> torch.Tensor:
    """(N, P, P) bool ground-truth adjacency padded to P -> (N, P(P-1)/2) float targets.

    Pairs in ψ's order (the strict upper triangle, ``triu_indices``); pairs with a padding
    channel are 0 because the padded adjacency is.
    """
    i, j = pair_indices(adjacency.shape[-1], adjacency.device)
    return adjacency[:, i, j].float()


def supervised_losses(
    cfg: OracleConfig,
    model: SkeletonModel,
    images: torch.Tensor,
    joints: torch.Tensor,
    valid: torch.Tensor,
    adjacency: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The oracle's losses on a batch of single images, plus detached diagnostics.

    Args:
        cfg: the configuration (loss weights, ``point_sigma``).
        model: the model.
        images: (N, 3, H, W) in [0, 1].
        joints: (N, P, 2) ground-truth pixel xy, padded to P.
        valid: (N, P) bool, channels with a real joint visible in the image.
        adjacency: (N, P, P) bool ground-truth links, padded to P with False.

    Returns:
        ``total``, ``points`` (cross-entropy, nats), ``links`` (binary cross-entropy) and
        the diagnostics ``point_err_px`` (mean px distance of each supervised channel's
        mode to its joint), ``link_prec`` / ``link_rec`` (of the links with logit > 0;
        NaN when undefined).
    """
    pts = model.points(images, sample=False)  # the maps ψ sees at inference
    N, P, H, W = pts.logits.shape
    log_p = torch.log_softmax(pts.logits.reshape(N, P, H * W), dim=-1)  # (N, P, HW)
    target = point_targets(joints, valid, H, W, cfg.point_sigma)  # (N, P, HW)
    ce = -(target * log_p).sum(-1)  # (N, P); 0 where not valid
    num_valid = valid.sum().clamp_min(1)
    points = ce.sum() / num_valid
    z = model.link_logits(images, pts.maps)  # (N, P(P-1)/2)
    y = link_targets(adjacency)  # (N, P(P-1)/2)
    pos_weight = torch.tensor(cfg.link_pos_weight, device=z.device, dtype=z.dtype)
    links = F.binary_cross_entropy_with_logits(z, y, pos_weight=pos_weight)
    total = cfg.point_weight * points + cfg.link_weight * links
    with torch.no_grad():
        mode = index_to_xy(log_p.argmax(-1), W).to(joints.dtype)  # (N, P, 2)
        err = ((mode - joints).norm(dim=-1) * valid).sum() / num_valid
        pred, true = z > 0, y > 0.5
        tp = (pred & true).sum()
        nan = torch.tensor(float("nan"))
        prec = tp / pred.sum() if pred.any() else nan
        rec = tp / true.sum() if true.any() else nan
    return dict(
        total=total, points=points, links=links, point_err_px=err, link_prec=prec, link_rec=rec
    )


def get_batch(dataset: Dataset, batch_size: int, seed: int, step: int) -> dict[str, torch.Tensor]:
    """The images of ``step`` with their ground truth: both frames of ``batch_size`` pairs.

    Indices depend only on (seed, step), so a resumed run sees the same sequence.

    Returns:
        ``images`` (2B, 3, H, W), ``joints`` (2B, P, 2), ``valid`` (2B, P) bool,
        ``adjacency`` (2B, P, P) bool; the sources first, then the targets.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    items = [dataset[i] for i in torch.randint(len(dataset), (batch_size,), generator=g).tolist()]

    def stack(key: str) -> torch.Tensor:
        return torch.stack([torch.as_tensor(it[key]) for it in items])

    mask = stack("joint_mask")  # (B, P)
    return dict(
        images=torch.cat([stack("source"), stack("target")]),
        joints=torch.cat([stack("source_joints"), stack("target_joints")]),
        valid=torch.cat([mask & stack("source_visible"), mask & stack("target_visible")]),
        adjacency=stack("adjacency").repeat(2, 1, 1),
    )


def train_oracle(
    cfg: OracleConfig, dataset: Dataset, out_dir: str | Path, resume: bool = False
) -> dict:
    """Trains π and ψ on ground truth; writes ``config.yaml``, ``log.csv``, ``checkpoint.pt``.

    Args:
        cfg: the configuration (``cfg.steps`` is the total, including resumed steps).
        dataset: items as :class:`~skeleton_perception.training.sim.pairs.PairDataset`'s
            with ``max_joints = cfg.model.num_points`` (images and padded ground truth).
        out_dir: output directory.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.

    Returns:
        The last logged row (floats) plus "step".
    """
    out_dir, device = start_run(cfg, out_dir)
    torch.manual_seed(cfg.seed)
    model = SkeletonModel(cfg.model).to(device)
    model.background.requires_grad_(False)  # no loss reaches B
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, betas=tuple(cfg.betas)
    )
    ckpt_path = out_dir / "checkpoint.pt"
    step = 0
    if resume and ckpt_path.exists():
        step, _ = resume_weights(ckpt_path, model, optimizer)
        print(f"resumed from {ckpt_path} at step {step} on {device}")
    save_config(cfg, out_dir / "config.yaml")

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path, model.state_dict(), cfg.train_config().to_dict(), step,
            optimizer.state_dict(),
            metadata=dict(method=METHOD, supervised=True, oracle=cfg.oracle_dict(),
                          time=time.time(), torch=str(torch.__version__), dataset=cfg.dataset,
                          hardware=hardware(), device=str(device),
                          train_seconds=time.time() - t_start),
        )  # fmt: skip

    log_path = out_dir / "log.csv"
    rows = restart_log(log_path, LOG_FIELDS, step)
    t_last = time.time()
    t_start = t_last - (float(rows[-1]["time_s"]) if rows else 0.0)

    model.train()
    model.background.eval()
    sums: dict[str, float] = {}
    count, last_row = 0, {}
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
    pending = loader.submit(get_batch, dataset, cfg.batch_size, cfg.seed, step)
    try:
        while step < cfg.steps:
            batch = pending.result()
            if step + 1 < cfg.steps:
                pending = loader.submit(get_batch, dataset, cfg.batch_size, cfg.seed, step + 1)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            losses = supervised_losses(
                cfg, model, batch["images"], batch["joints"], batch["valid"], batch["adjacency"]
            )
            optimize(cfg, model, optimizer, losses["total"])
            step += 1

            for k, v in losses.items():  # interval means (NaN-free: undefined ratios skipped)
                value = float(v.detach())
                if not math.isnan(value):
                    sums[k] = sums.get(k, 0.0) + value
                    sums[f"n_{k}"] = sums.get(f"n_{k}", 0.0) + 1
            count += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                last_row = {k: sums[k] / sums[f"n_{k}"] for k in losses if f"n_{k}" in sums}
                last_row.update(step=step, time_s=now - t_start)
                last_row["images_per_s"] = count * 2 * cfg.batch_size / max(now - t_last, 1e-9)
                append_log_row(log_path, LOG_FIELDS, last_row)
                sums, count, t_last = {}, 0, now
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                checkpoint()
    except KeyboardInterrupt:
        checkpoint()
        raise
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
    return dict(last_row, step=step)


def open_datasets(roots: list[Path], cfg: OracleConfig) -> Dataset:
    """The training pairs of generated dataset root(s), ground truth padded to P."""
    from .sim.pairs import PairDataset

    parts = [
        PairDataset(d, split="train", min_gap=cfg.min_gap, seed=cfg.seed,
                    max_joints=cfg.model.num_points)
        for d in roots
    ]  # fmt: skip
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception oracle``."""
    parser.add_argument(
        "--data", type=Path, nargs="+", required=True,
        help="dataset root(s) from `generate` (their train split; several: the mixture)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output directory of the run")
    parser.add_argument("--steps", type=int, help="total training steps (overrides the config)")
    parser.add_argument(
        "--config", type=Path,
        help="optional YAML of TrainConfig keys (e.g. training/configs/<dataset>.yaml)",
    )  # fmt: skip
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
        help="config overrides: TrainConfig keys (threads=1 batch_size=16 model.num_points=16) "
        f"and the oracle's own ({', '.join(ORACLE_KEYS)})",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--device", help="auto (the default), cpu, cuda, cuda:N")


def run(args: argparse.Namespace) -> int:
    """Runs ``skeleton-perception oracle``."""
    if world_from_env().distributed:
        print(
            "oracle: trains in one process; torchrun with several processes is for "
            "`skeleton-perception train` (docs/training.md)",
            file=sys.stderr,
        )
        return 2
    overrides = list(args.overrides)
    if args.config is None:
        overrides.insert(0, f"dataset={dataset_name(args.data[0])}")
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    try:
        cfg = load_oracle_config(args.config, overrides)
        dataset = open_datasets(args.data, cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"oracle: {err}", file=sys.stderr)
        return 2
    result = train_oracle(cfg, dataset, args.out, resume=args.resume)
    print(
        f"done: step {result['step']}, point cross-entropy {result.get('points', float('nan')):.3f}"
        f" (mode {result.get('point_err_px', float('nan')):.2f} px from the joint), link BCE "
        f"{result.get('links', float('nan')):.4f}; outputs in {args.out}"
    )
    return 0
