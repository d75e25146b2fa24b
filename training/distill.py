"""``skeleton-perception distill``: π learns to find on randomised looks what it finds on plain.

Example (one line)::

    skeleton-perception distill --teacher default --data data/rand/cartpoles
        --twin data/twin/cartpoles --out runs/distill --steps 4000

A model trained on plain renders (one flat background, the family's colours) loses its
joints on textured floors, other lights and other colours (docs/notebook/appearance.md).
The simulator can render every frame twice: once in a randomised look (``generate
--randomise``) and once, with the same poses and camera, in the plain look (``generate
--randomise --plain-twin``). Distillation then needs no labels: the teacher (a frozen copy
of the starting model) locates its points on the plain twin, and the student π learns to
give the same location maps on the randomised frame. The student also sees the plain twin
itself with the same target, so its plain-look output stays the teacher's
(``plain_weight``). Only π is trained; ψ, B and the published joints
are the teacher's. ``--match`` scores the randomised frame's maps against the teacher's as
point sets (:func:`~.id_matching.matched_order`), ``--episode-frames K`` draws the batch K
frames per episode and shares that matching among them (one numbering through a video;
``--colour-chains``: one id per part that the plain twin's colours name),
``--student-width`` trains a fresh π of another width.

Per step: ``batch_size`` frames drawn by ``(seed, step)`` from the (randomised, twin)
pairs, the loss (:func:`distillation_loss`), Adam with the training loop's clipping. The
log's ``moved_px`` is the mean distance from each of π's modes on the randomised frame to
the teacher's mode it is scored against (after the matching, with ``--match``). Every
``log_every`` steps a CSV row, every ``ckpt_every`` an atomic checkpoint of the whole model
in the training format (``export`` and ``evaluate`` take it); ``--resume`` continues a
killed run. Outputs in ``--out``: ``config.yaml``, ``log.csv``, ``checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset
from tqdm import tqdm

from skeleton_perception.checkpoint import (
    CheckpointError,
    build_model_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from skeleton_perception.nn.model import SkeletonModel
from skeleton_perception.nn.points import index_to_xy
from skeleton_perception.preprocess import Letterbox

from .config import TrainConfig, parse_override, save_config, set_value
from .id_matching import colour_chains, colour_signatures, matched_order
from .runinfo import first_step, hardware
from .sim.storage import EpisodeStore, read_identity
from .train import (
    append_log_row,
    optimize,
    resolve_init,
    restart_log,
    resume_weights,
    start_run,
)

LOG_FIELDS = ("step", "time_s", "frames_per_s", "total", "look", "plain", "moved_px")


@dataclass(frozen=True)
class DistillConfig:
    """What distillation adds to the training settings.

    Attributes:
        teacher: The starting model's checkpoint (the teacher is a frozen copy of it).
        plain_weight: Weight of the plain twin's own term (keeps the plain-look output).
        tau: Softmax temperature of both location maps (the model's evaluation one: 1).
        student_width: π's first width for a student of another size, trained from a
            fresh initialisation; 0 keeps the teacher's π and starts from its weights.
        batchnorm: ``frozen`` keeps the teacher's BatchNorm statistics in π (training runs
            π exactly as inference); ``train`` normalises by each batch and updates the
            running statistics on the looks' and twins' frames.
        match: on the look, match π's maps to the teacher's within the published joints
            and within the other points (:func:`~.id_matching.matched_order`) instead of id by id.
        episode_frames: draw each step's frames this many from one episode; with
            ``match``, the frames of an episode share one assignment.
        colour_chains: with ``match`` and ``episode_frames``, an episode's frames share π's
            joint ids along the teacher's joints tied by the plain twin's part colours
            (:func:`~.id_matching.colour_chains`), not along the teacher's ids.
    """

    teacher: str
    plain_weight: float = 1.0
    tau: float = 1.0
    student_width: int = 0
    batchnorm: str = "frozen"
    match: bool = False
    episode_frames: int = 1
    colour_chains: bool = False


class TwinFrames(Dataset):
    """Frames of a randomised dataset, each with the same view rendered in the plain look.

    Item ``k`` is frame ``k % T`` of episode ``k // T`` of the split: a dict with ``look``
    and ``plain``, ``(3, S, S)`` float32 in [0, 1]. Frames of another size (a camera's
    aspect, ``generate --size 48x64``) are letterboxed to ``S`` as the detector letterboxes
    a camera's images (:class:`~skeleton_perception.preprocess.Letterbox`), so π learns
    the padding it will see.
    """

    def __init__(
        self, look_root: str | Path, twin_root: str | Path, split: str = "train", size: int = 64
    ):
        """Opens both datasets' split and checks that they pair up.

        Raises:
            ValueError: naming the folders, when the twin was not generated from the
                same settings as the randomised dataset with ``--plain-twin``.
        """
        self.look_root, self.twin_root = Path(look_root), Path(twin_root)
        look, twin = (read_identity(r) for r in (self.look_root, self.twin_root))
        if not twin.pop("plain_twin", False) or "plain_twin" in look:
            raise ValueError(
                f"{self.twin_root}: not the plain twin of {self.look_root} "
                "(generate the twin with the same options plus --plain-twin)"
            )
        if twin != look:
            differ = sorted(k for k in set(look) | set(twin) if look.get(k) != twin.get(k))
            raise ValueError(
                f"{self.twin_root} and {self.look_root}: generated with other settings "
                f"(not the same {', '.join(differ)})"
            )
        self.look = EpisodeStore(self.look_root, split)
        self.twin = EpisodeStore(self.twin_root, split)
        if len(self.look) != len(self.twin):
            raise ValueError(
                f"{self.look_root}/{split} has {len(self.look)} episodes, "
                f"{self.twin_root}/{split} {len(self.twin)}"
            )
        self.num_frames = self.look.meta(0)["num_frames"] if len(self.look) else 0
        self.size = size

    def __len__(self) -> int:
        return len(self.look) * self.num_frames

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"frame {k} out of range ({len(self)})")
        i, t = divmod(k, self.num_frames)
        frames = [store.frames(i, (t,))[0] for store in (self.look, self.twin)]  # (H, W, 3)
        height, width = frames[0].shape[:2]
        if (height, width) != (self.size, self.size):
            box = Letterbox.fit(width, height, self.size)
            frames = [np.ascontiguousarray(box.apply(f)) for f in frames]  # (S, S, 3)
        look, plain = (torch.from_numpy(f).permute(2, 0, 1).float().div_(255.0) for f in frames)
        return {"look": look, "plain": plain}


def get_frames(dataset: Dataset, batch_size: int, seed: int, step: int, per_episode: int = 1):
    """The frames of ``step``, by ``(seed, step)`` only.

    With ``per_episode`` K > 1, ``batch_size // K`` frames are drawn and each brings K - 1
    more frames of its own episode (of a :class:`TwinFrames` or a concatenation of them).

    Returns:
        look, plain: (B, 3, H, W); mask: (B, H, W) bool where no point may sit (items
        with a ``mask``, :class:`~.bags.motion.MotionFrames`), else None; episode: (B,)
        int64, frames with the same value come from the same episode.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    if per_episode <= 1:
        picks = torch.randint(len(dataset), (batch_size,), generator=g).tolist()
        episode = torch.arange(batch_size)
    else:
        picks = []
        firsts = torch.randint(len(dataset), (max(1, batch_size // per_episode),), generator=g)
        for k in firsts.tolist():
            start, frames = _episode_of(dataset, k)
            ts = torch.randint(frames, (per_episode,), generator=g)
            picks += [start + t for t in ts.tolist()]
        episode = torch.arange(len(firsts)).repeat_interleave(per_episode)
    items = [dataset[i] for i in picks]
    look, plain = (torch.stack([it[key] for it in items]) for key in ("look", "plain"))
    mask = torch.stack([it["mask"] for it in items]) if "mask" in items[0] else None
    return look, plain, mask, episode


def _episode_of(dataset: Dataset, k: int) -> tuple[int, int]:
    """Item ``k``'s episode in ``dataset``: (the index of its first frame, its frames)."""
    offset = 0
    if isinstance(dataset, ConcatDataset):
        part = bisect.bisect_right(dataset.cumulative_sizes, k)
        offset = dataset.cumulative_sizes[part - 1] if part else 0
        dataset = dataset.datasets[part]
    frames = dataset.num_frames
    return offset + (k - offset) // frames * frames, frames


def masked_target(teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The teacher's logits with the masked pixels made all but impossible.

    Args:
        teacher: (B, P, H, W) logits.
        mask: (B, H, W) bool, True where no point may sit.

    Returns:
        (B, P, H, W) logits whose softmax is the teacher's map renormalised over the
        unmasked pixels (the maps of a frame masked whole keep their own shape).
    """
    mask = mask & ~mask.flatten(1).all(1)[:, None, None]  # a frame masked whole: unmasked
    return teacher.masked_fill(mask[:, None], -1e4) if mask.any() else teacher


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float = 1.0):
    """KL(teacher map ‖ student map) per point, summed over pixels, mean over points.

    Args:
        student: (B, P, H, W) π logits.
        teacher: (B, P, H, W) π logits of the teacher (no gradient).
        tau: softmax temperature of both maps.

    Returns:
        Scalar loss.
    """
    s = F.log_softmax(student.flatten(2) / tau, dim=-1)  # (B, P, H*W)
    t = F.log_softmax(teacher.flatten(2) / tau, dim=-1)
    return (t.exp() * (t - s)).sum(-1).mean()


def _mode_xy(logits: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) -> (B, P, 2) xy of each map's mode."""
    return index_to_xy(logits.flatten(2).argmax(-1), logits.shape[-1])


def distill(
    cfg: TrainConfig,
    dcfg: DistillConfig,
    dataset: Dataset,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Distils the teacher's points into π on ``dataset``'s randomised frames.

    Args:
        cfg: the training settings (steps, batch_size, lr, clipping, seed, threads,
            device, log_every, ckpt_every); its ``model`` section is the teacher's.
        dcfg: the teacher and the loss weights.
        dataset: items with ``look`` and ``plain`` (3, H, W) images (:class:`TwinFrames`).
        out_dir: output directory.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.
        progress: show a progress bar.

    Returns:
        The last logged row plus "step".
    """
    out_dir, device = start_run(cfg, out_dir)
    path = resolve_init(dcfg.teacher)
    start = load_checkpoint(path)
    teacher = build_model_from_checkpoint(start, path).to(device).eval()
    teacher.requires_grad_(False)
    if dcfg.batchnorm not in ("frozen", "train"):
        raise ValueError(f"distill batchnorm: {dcfg.batchnorm!r} is not frozen or train")
    if dcfg.student_width:
        cfg.model.unet_width = dcfg.student_width
        torch.manual_seed(cfg.seed)
        student = SkeletonModel(cfg.model)
        own = {k: v for k, v in teacher.state_dict().items() if not k.startswith("pi.")}
        missing, unexpected = student.load_state_dict(own, strict=False)
        if unexpected or not all(k.startswith("pi.") for k in missing):
            raise CheckpointError(f"checkpoint {path}: ψ and B do not fit a student of width "
                                  f"{dcfg.student_width} ({unexpected or missing})")  # fmt: skip
        student = student.to(device)
    else:
        student = build_model_from_checkpoint(start, path).to(device)
    student.requires_grad_(False)
    student.pi.requires_grad_(True)
    student.eval()
    if dcfg.batchnorm == "train":
        student.pi.train()
    optimizer = torch.optim.Adam(student.pi.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    joints = list(cfg.model.joint_ids or [])
    groups = [joints, [i for i in range(cfg.model.num_points) if i not in joints]]
    ckpt_path = out_dir / "checkpoint.pt"
    step = start = 0
    log_path = out_dir / "log.csv"
    if resume and ckpt_path.exists():
        step, ckpt = resume_weights(ckpt_path, student, optimizer)
        start = first_step(ckpt, own=log_path.exists())
        print(f"resumed from {ckpt_path} at step {step} on {device}")
    save_config(cfg, out_dir / "config.yaml")
    rows = restart_log(log_path, LOG_FIELDS, step)
    t_start = time.time() - (float(rows[-1]["time_s"]) if rows else 0.0)

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path, student.state_dict(), cfg.to_dict(), step, optimizer.state_dict(),
            metadata=dict(time=time.time(), torch=str(torch.__version__), dataset=cfg.dataset,
                          hardware=hardware(), device=str(device), distill=asdict(dcfg),
                          first_step=start, train_seconds=time.time() - t_start),
        )  # fmt: skip

    sums: dict[str, float] = {}
    count, last_row, t_last = 0, {}, time.time()
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, dynamic_ncols=True)
    try:
        while step < cfg.steps:
            look, plain, mask, episode = get_frames(
                dataset, cfg.batch_size, cfg.seed, step, dcfg.episode_frames
            )
            look, plain = look.to(device), plain.to(device)
            n = look.shape[0]
            with torch.no_grad():
                target = teacher.pi(plain - 0.5)  # (B, P, H, W)
                if mask is not None:
                    target = masked_target(target, mask.to(device))
            with_plain = dcfg.plain_weight > 0
            logits = student.pi((torch.cat([look, plain]) if with_plain else look) - 0.5)
            on_look_logits = logits[:n]  # (B, P, H, W); logits: (2B or B, P, H, W)
            if dcfg.match:
                chains = None
                if dcfg.colour_chains:  # the teacher's joints tied by the twin's colours
                    signatures = np.full((n, cfg.model.num_points, 3), np.nan)  # (B, P, 3)
                    signatures[:, joints] = colour_signatures(plain, _mode_xy(target)[:, joints])
                    chains = colour_chains(signatures, episode, joints)  # (B, P)
                order = matched_order(on_look_logits, target, groups, dcfg.tau, episode, chains)
                on_look_logits = on_look_logits.gather(
                    1, order[:, :, None, None].expand_as(on_look_logits)
                )
            on_look = distillation_loss(on_look_logits, target, dcfg.tau)
            on_plain = (
                distillation_loss(logits[n:], target, dcfg.tau) if with_plain else 0 * on_look
            )
            total = on_look + dcfg.plain_weight * on_plain
            optimize(cfg, student, optimizer, total)
            step += 1
            moved = (_mode_xy(on_look_logits.detach()) - _mode_xy(target)).norm(dim=-1).mean()
            for k, v in dict(total=total, look=on_look, plain=on_plain, moved_px=moved).items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            count += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                last_row = {k: v / count for k, v in sums.items()}
                last_row.update(step=step, time_s=now - t_start)
                last_row["frames_per_s"] = count * cfg.batch_size / max(now - t_last, 1e-9)
                append_log_row(log_path, LOG_FIELDS, last_row)
                bar.set_postfix(look=f"{last_row['look']:.3f}", px=f"{last_row['moved_px']:.2f}")
                sums, count, t_last = {}, 0, now
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                checkpoint()
    except KeyboardInterrupt:
        checkpoint()
        raise
    finally:
        bar.close()
    return dict(last_row, step=step)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception distill``."""
    parser.add_argument(
        "--teacher", default="default", metavar="default|PATH",
        help="the starting model (the shipped default or a checkpoint); a frozen copy teaches",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path, nargs="+", required=True,
        help="randomised dataset root(s) from `generate --randomise`",
    )  # fmt: skip
    parser.add_argument(
        "--twin", type=Path, nargs="+", required=True,
        help="their plain twins (`generate --randomise --plain-twin`), in the same order",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output directory of the run")
    parser.add_argument("--steps", type=int, default=4000, help="total steps")
    parser.add_argument("--plain-weight", type=float, default=1.0, help="weight of the plain term")
    parser.add_argument(
        "--student-width", type=int, default=0,
        help="a fresh π of this first width (0: the teacher's π, from its weights)",
    )  # fmt: skip
    parser.add_argument(
        "--match", action="store_true",
        help="on the look, match π's maps to the teacher's as sets (joints, other points)",
    )  # fmt: skip
    parser.add_argument(
        "--episode-frames", type=int, default=1, metavar="K",
        help="frames drawn K per episode; with --match an episode's frames share one matching",
    )  # fmt: skip
    parser.add_argument(
        "--colour-chains", action="store_true",
        help="with --episode-frames, π keeps one id per part the plain twin's colours name",
    )  # fmt: skip
    parser.add_argument(
        "--batchnorm", choices=("frozen", "train"), default="frozen",
        help="π's BatchNorm: the teacher's statistics, or batch statistics while training",
    )  # fmt: skip
    add_run_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--set``, ``--resume`` and ``--no-progress``: a run's own options (also ``adapt``'s)."""
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
        help="training settings, e.g. lr=3e-4 batch_size=16 threads=1 ckpt_every=100",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def student_config(teacher: str, steps: int, lr: float, overrides: Sequence[str]) -> TrainConfig:
    """The training settings of a student of ``teacher``: its config, π only, ``--set``.

    Raises:
        CheckpointError, ValueError, FileNotFoundError: a bad teacher or setting.
    """
    cfg = TrainConfig.from_dict(load_checkpoint(resolve_init(teacher))["config"])
    cfg.steps, cfg.lr, cfg.train_modules, cfg.reinit_modules = steps, lr, ["pi"], []
    for text in overrides:
        set_value(cfg, *parse_override(text))
    return cfg


def run(args: argparse.Namespace) -> int:
    """Runs ``skeleton-perception distill``."""
    if len(args.data) != len(args.twin):
        print("distill: give one --twin root per --data root", file=sys.stderr)
        return 2
    dcfg = DistillConfig(
        str(args.teacher), plain_weight=args.plain_weight,
        student_width=args.student_width, batchnorm=args.batchnorm, match=args.match,
        episode_frames=args.episode_frames, colour_chains=args.colour_chains,
    )  # fmt: skip
    try:
        cfg = student_config(dcfg.teacher, args.steps, 3e-4, args.overrides)
        if args.episode_frames < 1 or cfg.batch_size % args.episode_frames:
            raise ValueError(f"--episode-frames {args.episode_frames} does not divide the "
                             f"batch of {cfg.batch_size} frames")  # fmt: skip
        if args.colour_chains and not (args.match and args.episode_frames > 1):
            raise ValueError("--colour-chains needs --match and --episode-frames K > 1")
        parts = [TwinFrames(d, t) for d, t in zip(args.data, args.twin, strict=True)]
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"distill: {err}", file=sys.stderr)
        return 2
    dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    result = distill(cfg, dcfg, dataset, args.out, args.resume, not args.no_progress)
    print(
        f"done: step {result['step']}, loss on the look {result.get('look', float('nan')):.4f}, "
        f"on the plain twin {result.get('plain', float('nan')):.4f}, modes "
        f"{result.get('moved_px', float('nan')):.2f} px from the teacher's; outputs in {args.out}"
    )
    return 0
