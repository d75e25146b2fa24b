"""Training: ``skeleton-perception train --config C --data D [D ...] | --bag B --out O [...]``.

The loop (:func:`train`) trains from any ``torch.utils.data.Dataset`` whose items are
dicts with ``source`` and ``target`` float32 (3, H, W) images in [0, 1]. Per step:
sample 8 pairs, run π/ψ/B/NPT, sum the weighted losses (ℓ_uniform and ℓ_sparse ramped
in), Adam with gradient clipping by value and by norm. Every ``log_every`` steps a CSV
row, every ``plot_every`` the plots, every ``ckpt_every`` an atomic checkpoint; with
``--resume`` a killed run continues from its last checkpoint. Under ``torchrun`` with
several processes it trains with DistributedDataParallel (:mod:`.distributed`,
docs/training.md); rank 0 writes every file.

Outputs in ``--out``: ``config.yaml``, ``log.csv``, ``checkpoint.pt``, ``losses.png``,
``samples.png``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, Dataset
from tqdm import tqdm

from skeleton_perception.atomic import atomic_path
from skeleton_perception.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from skeleton_perception.nn.model import ModelConfig, SkeletonModel

from .config import TrainConfig, flatten, load_config, parse_override, save_config, set_value
from .distributed import (
    World,
    batch_share,
    from_main,
    mean_over_processes,
    process_group,
    random_states,
    rank_seed,
    restore_random_states,
    sync_batchnorm,
    threads_per_process,
    train_device,
    world_from_env,
    wrap,
)
from .losses import CoverShapes, compute_losses, foreground_errors
from .runinfo import first_step, hardware
from .visualize import plot_losses, plot_samples

LOG_FIELDS = (
    "step", "time_s", "pairs_per_s", "total", "recon", "contiguity", "near", "sparse_links",
    "sparse_joints", "uniform", "length", "link_logit_l2",
    "link_logit_excess", "points_near", "points_length", "points_links", "points_cover",
    "fg_err_points",
    "fg_err_background", "ramp", "tau",
)  # fmt: skip


def build_model(cfg: TrainConfig) -> SkeletonModel:
    """The model for ``cfg.model``, initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    return SkeletonModel(cfg.model)


def freeze_modules(cfg: TrainConfig, model: SkeletonModel) -> None:
    """Turns off the gradient of every module not in ``cfg.train_modules``."""
    for name in ("pi", "psi", "background"):
        getattr(model, name).requires_grad_(name in cfg.train_modules)


def set_train_mode(cfg: TrainConfig, model: SkeletonModel, training: bool = True) -> None:
    """``model.train(training)``, with the frozen modules kept in eval mode."""
    model.train(training)
    for name in ("pi", "psi", "background"):
        if name not in cfg.train_modules:
            getattr(model, name).eval()


def make_optimizer(
    cfg: TrainConfig, model: torch.nn.Module, shapes: CoverShapes | None = None
) -> torch.optim.Optimizer:
    """Adam over the trainable parameters (those of ``cfg.train_modules``, and ``shapes``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if shapes is not None:
        params += list(shapes.parameters())
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))


def ramp_length(cfg: TrainConfig) -> int:
    """Steps over which the ℓ_uniform / ℓ_sparse weights rise (scaled for short runs)."""
    return max(1, min(cfg.ramp_steps, int(cfg.ramp_fraction * cfg.steps)))


def get_ramp(cfg: TrainConfig, step: int) -> float:
    """Multiplier of the ℓ_uniform / ℓ_sparse weights at ``step`` (0 -> 1 linearly)."""
    return min(1.0, step / ramp_length(cfg))


def get_tau(cfg: TrainConfig, step: int) -> float:
    """Gumbel-Softmax temperature at ``step`` (geometric from tau to tau_final)."""
    tau0 = cfg.model.gumbel_tau
    if cfg.tau_final is None:
        return tau0
    frac = min(1.0, step / max(1, cfg.steps))
    return math.exp((1 - frac) * math.log(tau0) + frac * math.log(cfg.tau_final))


def get_batch(dataset: Dataset, batch_size: int, seed: int, step: int, share: slice = slice(None)):
    """The pairs of ``step``: (source, target), each (B, 3, H, W).

    Indices depend only on (seed, step), so a resumed run sees the same sequence. ``share``
    selects a process's block of the ``batch_size`` indices (:func:`.distributed.batch_share`);
    only those pairs are read.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    idx = torch.randint(len(dataset), (batch_size,), generator=g)[share].tolist()
    items = [dataset[i] for i in idx]
    source = torch.stack([torch.as_tensor(it["source"]) for it in items])
    target = torch.stack([torch.as_tensor(it["target"]) for it in items])
    return source, target


def training_step(
    cfg: TrainConfig,
    model: SkeletonModel,
    optimizer: torch.optim.Optimizer,
    source: torch.Tensor,
    target: torch.Tensor,
    ramp: float,
    tau: float,
    shapes: CoverShapes | None = None,
) -> tuple[dict, dict]:
    """One optimisation step on a batch: forward, losses, backward, clipping, update.

    Args:
        cfg: the run's configuration (losses, gradient clipping).
        model: the model, in training mode.
        optimizer: its optimiser.
        source: (B, 3, H, W) in [0, 1], on the model's device.
        target: (B, 3, H, W) in [0, 1], on the model's device.
        ramp: the ℓ_uniform / ℓ_sparse weight multiplier (:func:`get_ramp`).
        tau: the Gumbel-Softmax temperature (:func:`get_tau`).
        shapes: the cover loss's learnt shapes (``loss.cover_shapes``), or None.

    Returns:
        The model's outputs and the losses (tensors).
    """
    bf16 = cfg.precision == "bf16"
    with torch.autocast(source.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(source, target, tau=tau)
    if bf16:
        out = {k: to_float32(v) for k, v in out.items()}  # the losses in float32
    fixed = cfg.model.joint_ids if cfg.model.structure == "fixed" else None
    losses = compute_losses(
        out, target, cfg.loss, ramp, cfg.model.search, joint_ids=fixed, shapes=shapes
    )
    optimize(cfg, model, optimizer, losses["total"])
    return out, losses


def to_float32(value):
    """A tensor, or a dataclass of tensors (:class:`PointSet`), cast to float32."""
    if isinstance(value, torch.Tensor):
        return value.float()
    fields = dataclasses.fields(value)
    return type(value)(**{f.name: to_float32(getattr(value, f.name)) for f in fields})


def optimize(
    cfg: TrainConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor
) -> None:
    """Backward, gradient clipping (by value, then by norm, as configured) and the update."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.grad_clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, cfg.grad_clip_value)
    if cfg.grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip_norm)
    optimizer.step()


def load_init(model: SkeletonModel, init, skip: Sequence[str] = ()) -> None:
    """Initialises the weights from a checkpoint path or a state dict (None: nothing).

    Args:
        model: the model to initialise.
        init: checkpoint path or state dict.
        skip: modules ("pi", "psi", "background") whose weights are not taken from
            ``init`` (they are re-initialised; their architecture may differ, e.g. another
            ``model.psi_width``).
    """
    if init is None:
        return
    state = init if isinstance(init, dict) else load_checkpoint(init)["model"]
    prefixes = tuple(f"{name}." for name in skip)
    state = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(prefixes)]
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    except RuntimeError as e:
        name = "<state dict>" if isinstance(init, dict) else init
        raise CheckpointError(f"checkpoint {name}: weights do not fit this model ({e})") from e


@torch.no_grad()
def write_plots(
    model: SkeletonModel, samples, out_dir: Path, step: int, cfg: TrainConfig | None = None
) -> None:
    """losses.png from the log and samples.png from fixed pairs (eval mode)."""
    plot_losses(out_dir / "log.csv", out_dir / "losses.png")
    source, target = samples
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    source, target = source.to(device), target.to(device)
    out = model(source, target)
    xy_s, S = model.predict(source)
    xy_t, _ = model.predict(target)
    if cfg is None:
        model.train(was_training)
    else:
        set_train_mode(cfg, model, was_training)

    def hwc(x):
        return x.permute(0, 2, 3, 1).cpu().numpy()

    plot_samples(
        out_dir / "samples.png",
        hwc(source), hwc(target), hwc(out["background"]), hwc(out["recon"]),
        xy_s.cpu().numpy(), xy_t.cpu().numpy(), S.cpu().numpy(), title=f"step {step}",
    )  # fmt: skip


def start_run(
    cfg: TrainConfig, out_dir: str | Path, world: World | None = None
) -> tuple[Path, torch.device]:
    """Creates the run directory (rank 0), sets the CPU threads; the run's folder and device.

    ``world``: this process among torchrun's (None: a single process).
    """
    world = world or World()
    out_dir = Path(out_dir)
    if world.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    threads = threads_per_process(world, cfg.threads)
    if threads > 0:
        torch.set_num_threads(threads)
    return out_dir, train_device(world, cfg.device)


def resume_weights(
    ckpt: Path | dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, dict]:
    """Loads a run's checkpoint (path or loaded) into its model and optimiser: (step, it).

    The optimiser keeps the learning rate it was built with (the run's settings), not the
    checkpoint's, so a run resumed with ``--set lr=...`` trains on at the new rate.
    """
    ckpt = ckpt if isinstance(ckpt, dict) else load_checkpoint(ckpt)
    model.load_state_dict(ckpt["model"])
    if ckpt.get("optimizer"):
        rates = [group["lr"] for group in optimizer.param_groups]
        optimizer.load_state_dict(ckpt["optimizer"])
        for group, lr in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = lr
    return int(ckpt["step"]), ckpt


def restart_log(path: Path, fields: Sequence[str], step: int) -> list[dict]:
    """Rewrites a CSV training log keeping its rows up to ``step`` (all gone at step 0).

    Returns:
        The rows kept (a resumed run continues after them).
    """
    rows = []
    if step and path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r["step"])) <= step]
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in fields} for r in rows)
    return rows


def append_log_row(path: Path, fields: Sequence[str], row: dict) -> None:
    """Appends ``row`` to the CSV log at ``path`` (``fields`` in order, missing ones empty)."""
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fields).writerow({k: row.get(k, "") for k in fields})


def train(
    cfg: TrainConfig,
    dataset: Dataset,
    out_dir: str | Path,
    init=None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Trains a model on pairs from ``dataset``; writes logs, plots, checkpoints to ``out_dir``.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this with the same arguments;
    each reads its share of every batch from its own ``dataset``, and rank 0 writes.

    Args:
        cfg: the configuration (``cfg.steps`` is the total, including resumed steps).
        dataset: items are dicts with "source" and "target" (3, H, W) float in [0, 1].
        out_dir: output directory.
        init: initial weights, a checkpoint path or a state dict (ignored on resume).
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.
        progress: show a progress bar.

    Returns:
        The last logged row (floats, the means over the processes) plus "step".
    """
    world = world_from_env()
    share = batch_share(world, cfg.batch_size)
    out_dir, device = start_run(cfg, out_dir, world)
    with process_group(world, device):
        return _train(cfg, dataset, out_dir, device, world, share, init, resume, progress)


def _train(
    cfg: TrainConfig,
    dataset: Dataset,
    out_dir: Path,
    device: torch.device,
    world: World,
    share: slice,
    init,
    resume: bool,
    progress: bool,
) -> dict:
    """:func:`train` in one process of ``world`` (already joined)."""
    main = world.is_main
    model = build_model(cfg).to(device)
    freeze_modules(cfg, model)
    if world.distributed and cfg.sync_batchnorm:
        model = sync_batchnorm(model, device)
    shapes = None
    if cfg.loss.cover_shapes:  # trained beside the model, not through DDP
        if world.distributed:
            raise ValueError("loss.cover_shapes: not supported with several processes")
        shapes = CoverShapes(cfg.model.num_points, cfg.loss.cover_sigma).to(device)
    optimizer = make_optimizer(cfg, model, shapes)
    ckpt_path = out_dir / "checkpoint.pt"
    step = start = 0
    ckpt = load_checkpoint(ckpt_path) if resume and main and ckpt_path.exists() else None
    ckpt = from_main(ckpt, world)  # rank 0 reads; the others need no shared folder
    if ckpt is not None:
        step, ckpt = resume_weights(ckpt, model, optimizer)
        start = first_step(ckpt, own=(out_dir / "log.csv").exists())
        if shapes is not None:
            shapes.load_state_dict(ckpt["metadata"]["cover_shapes"])
        restore_random_states(ckpt["metadata"], cfg.seed, world, device, step)
        if main:
            print(f"resumed from {ckpt_path} at step {step} on {device}")
    else:
        load_init(model, init, skip=cfg.reinit_modules if init is not None else ())
        if init is not None and cfg.reinit_modules:
            fresh = build_model(cfg)  # the same seeded initialisation as a run from scratch
            for name in cfg.reinit_modules:
                getattr(model, name).load_state_dict(getattr(fresh, name).state_dict())
        torch.manual_seed(rank_seed(cfg.seed, world.rank))  # cfg.seed + 1 in rank 0
    if main:
        save_config(cfg, out_dir / "config.yaml")
    trained = wrap(model, world, device)  # DistributedDataParallel with several processes

    def checkpoint(collective: bool = True):
        random = random_states(world, device, collective)  # every process takes part
        if not main:
            return
        extra = {} if shapes is None else {"cover_shapes": shapes.state_dict()}
        save_checkpoint(
            ckpt_path, model.state_dict(), cfg.to_dict(), step, optimizer.state_dict(),
            metadata=dict(time=time.time(), torch=str(torch.__version__), dataset=cfg.dataset,
                          hardware=hardware(), device=str(device), first_step=start,
                          train_seconds=time.time() - t_start, **random, **extra),
        )  # fmt: skip

    # The CSV log: keep rows up to the checkpoint when resuming, then append.
    log_path = out_dir / "log.csv"
    rows = restart_log(log_path, LOG_FIELDS, step) if main else []
    samples = get_batch(dataset, cfg.num_samples, cfg.seed + 12345, 0) if main else None
    elapsed = float(rows[-1]["time_s"]) if rows else 0.0  # time_s continues after a resume

    set_train_mode(cfg, model)
    sums: dict[str, float] = {}
    count, last_row = 0, {}
    t_last = time.time()
    t_start = t_last - elapsed
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and main), dynamic_ncols=True)
    # The next batch is read (PNG decoding) in a thread while this one trains.
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
    pending = loader.submit(get_batch, dataset, cfg.batch_size, cfg.seed, step, share)
    try:
        while step < cfg.steps:
            source, target = pending.result()
            if step + 1 < cfg.steps:
                pending = loader.submit(
                    get_batch, dataset, cfg.batch_size, cfg.seed, step + 1, share
                )
            source = source.to(device, non_blocking=True)  # (B / processes, 3, H, W)
            target = target.to(device, non_blocking=True)
            ramp, tau = get_ramp(cfg, step), get_tau(cfg, step)

            out, losses = training_step(cfg, trained, optimizer, source, target, ramp, tau, shapes)
            step += 1

            # bookkeeping: interval means of every loss and of the foreground errors
            fg_points, fg_bg = foreground_errors(source, target, out["recon"], out["background"])
            values = {k: float(v.detach()) for k, v in losses.items()}
            values.update(fg_err_points=fg_points, fg_err_background=fg_bg)
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                means = {k: v / count for k, v in sums.items()}
                last_row = mean_over_processes(means, world, device)  # over the processes
                last_row.update(step=step, time_s=now - t_start, ramp=ramp, tau=tau)
                last_row["pairs_per_s"] = count * cfg.batch_size / max(now - t_last, 1e-9)
                if main:
                    append_log_row(log_path, LOG_FIELDS, last_row)
                bar.set_postfix(
                    recon=f"{last_row['recon']:.4f}",
                    fg=f"{last_row['fg_err_points']:.3f}/{last_row['fg_err_background']:.3f}",
                    pps=f"{last_row['pairs_per_s']:.1f}",
                )
                sums, count, t_last = {}, 0, now
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                checkpoint()
            if main and (step % cfg.plot_every == 0 or step == cfg.steps):
                write_plots(model, samples, out_dir, step, cfg)
    except KeyboardInterrupt:
        checkpoint(collective=False)  # the other processes may be gone
        raise
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return dict(last_row, step=step)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception train``."""
    parser.add_argument("--config", type=Path, help="YAML config (training/configs/<dataset>.yaml)")
    parser.add_argument(
        "--data", type=Path, nargs="+",
        help="dataset root(s) from `generate`; several roots train on their mixture",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output directory of the run")
    parser.add_argument("--steps", type=int, help="total training steps (overrides the config)")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
        help="config overrides with dotted keys, e.g. loss.recon=5 model.num_points=16",
    )  # fmt: skip
    parser.add_argument(
        "--init", default="none", metavar="default|none|PATH",
        help="initial weights: the shipped default model, none (from scratch) or a checkpoint; "
        "the architecture (model section of the config) then comes from that checkpoint",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--device", help="auto (CUDA when available; the config's default), cpu, cuda, cuda:N"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .bags.options import add_bag_arguments

    add_bag_arguments(parser)


def resolve_init(init: str) -> Path | None:
    """The checkpoint ``--init`` names: ``default`` (shipped model), ``none`` or a path."""
    if init == "none":
        return None
    if init == "default":
        from skeleton_perception.detector import DEFAULT_WEIGHTS

        return DEFAULT_WEIGHTS
    return Path(init)


def _datasets(args: argparse.Namespace, cfg: TrainConfig, progress: bool) -> Dataset:
    """The training pairs: generated dataset root(s) or a recorded bag (read per process)."""
    if args.bag:
        from .bags.options import bag_datasets_from_args
        from .bags.reader import one_line_warnings

        with one_line_warnings("train"):
            dataset, _ = bag_datasets_from_args(
                args, seed=cfg.seed, input_size=cfg.model.image_size, progress=progress
            )
        return dataset
    from .sim.pairs import PairDataset

    parts = [PairDataset(d, split="train", min_gap=cfg.min_gap, seed=cfg.seed) for d in args.data]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def run(args: argparse.Namespace) -> int:
    """Runs ``skeleton-perception train``."""
    if bool(args.data) == bool(args.bag):
        print("train: give exactly one of --data (generated datasets) or --bag", file=sys.stderr)
        return 2
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    init = None if args.resume else resolve_init(args.init)
    try:
        world = world_from_env()
        cfg = load_config(args.config, overrides)
        batch_share(world, cfg.batch_size)
        if init is not None:
            # Fine-tuning keeps the initial checkpoint's architecture, except for model keys
            # given explicitly with --set (a shape change then fails when loading).
            explicit = {parse_override(t)[0] for t in overrides}
            model = load_checkpoint(init)["config"].get("model", {})
            for key, value in flatten(ModelConfig.drop_retired(model)):
                if f"model.{key}" not in explicit:
                    set_value(cfg, f"model.{key}", value)
    except (CheckpointError, ValueError) as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    bag_errors: tuple[type[Exception], ...] = ()
    if args.bag:  # the bag reader needs rosbags: imported only for a bag
        from .bags.reader import BagError

        bag_errors = (BagError,)
    progress = not args.no_progress and world.is_main
    try:
        dataset = _datasets(args, cfg, progress)
    except bag_errors as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    result = train(cfg, dataset, args.out, init=init, resume=args.resume, progress=progress)
    if not world.is_main:
        return 0
    print(
        f"done: step {result['step']}, recon {result.get('recon', float('nan')):.4f}, "
        f"foreground error points {result.get('fg_err_points', float('nan')):.4f} vs "
        f"background alone {result.get('fg_err_background', float('nan')):.4f}; "
        f"outputs in {args.out}"
    )
    return 0
