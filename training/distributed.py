"""Training in several processes: ``torchrun`` and DistributedDataParallel (DDP).

``skeleton-perception train`` reads the variables ``torchrun`` sets (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); with
``WORLD_SIZE`` unset or 1 nothing here runs and the loop is the single-process one, bit for
bit. With ``WORLD_SIZE > 1``:

- the process group is initialised from those variables (``init_method="env://"``), with
  NCCL when the process trains on a GPU and Gloo on the CPU; each process of a machine
  takes GPU ``cuda:LOCAL_RANK``;
- the model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, which
  averages the gradients over the processes during ``backward``; clipping and the Adam
  step then run on the same averaged gradient in every process, as in one process;
- BatchNorm layers compute their batch statistics over the global batch:
  :class:`torch.nn.SyncBatchNorm` on GPUs and :class:`SyncBatchNormCPU` (PyTorch's has
  no CPU kernels) on the CPU; ``sync_batchnorm: false`` keeps per-process statistics;
- ``batch_size`` stays the *global* batch: process ``r`` of ``N`` trains on the block
  ``[r * B/N, (r + 1) * B/N)`` of the step's ``B`` pair indices (:func:`batch_share`), so
  the processes together see exactly the pairs one process would.

The docs are in docs/training.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from skeleton_perception.detector import resolve_device

# Per-process torch seeds of a run with several processes: seed + 1 + RANK_STRIDE * rank
# (rank 0 keeps the single-process stream).
RANK_STRIDE = 1_000_003
ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """Where this process stands among the training processes.

    Attributes:
        rank: global rank (0 .. size - 1); rank 0 writes every file.
        local_rank: rank among the processes of this machine (its GPU index).
        size: number of processes (``WORLD_SIZE``).
        local_size: processes on this machine (``LOCAL_WORLD_SIZE``).
    """

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        """True with more than one process."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """True in the process that writes the run's files (rank 0)."""
        return self.rank == 0


def world_from_env(env: dict | None = None) -> World:
    """The :class:`World` that ``torchrun``'s variables describe (one process without them).

    Raises:
        ValueError: ``WORLD_SIZE > 1`` but a variable torchrun sets is missing or bad.
    """
    env = os.environ if env is None else env
    try:
        size = int(env.get("WORLD_SIZE", "1"))
        if size <= 1:
            return World()
        missing = [k for k in ENV if k not in env]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        world = World(
            rank=int(env["RANK"]),
            local_rank=int(env["LOCAL_RANK"]),
            size=size,
            local_size=int(env.get("LOCAL_WORLD_SIZE", str(size))),
        )
    except ValueError as err:
        raise ValueError(
            f"environment WORLD_SIZE={env.get('WORLD_SIZE')}: not a torchrun launch ({err}); "
            "start several processes with torchrun (docs/training.md)"
        ) from None
    if not 0 <= world.rank < world.size or not 0 <= world.local_rank < world.local_size:
        raise ValueError(f"environment RANK / LOCAL_RANK out of range: {world}")
    return world


def train_device(world: World, device: str) -> torch.device:
    """The device this process trains on for the config's ``device``.

    One process: :func:`~skeleton_perception.detector.resolve_device`. Several: "auto" and
    "cuda" mean ``cuda:LOCAL_RANK`` (made the current device), "cpu" the CPU.

    Raises:
        ValueError: "cuda:N" with several processes (they would share one GPU).
    """
    if not world.distributed:
        return resolve_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda:"):
        raise ValueError(
            f"config device: {device!r} with {world.size} processes; use 'cuda' (process "
            "LOCAL_RANK takes cuda:LOCAL_RANK) and choose the GPUs with CUDA_VISIBLE_DEVICES"
        )
    if device != "cuda":
        return torch.device(device)
    gpu = torch.device("cuda", world.local_rank)
    torch.cuda.set_device(gpu)
    return gpu


def threads_per_process(world: World, threads: int) -> int:
    """CPU threads of one process: the config's ``threads`` shared by the machine's processes."""
    if threads <= 0 or not world.distributed:
        return threads
    return max(1, threads // world.local_size)


@contextmanager
def process_group(world: World, device: torch.device) -> Iterator[None]:
    """Joins the other processes for the block (nothing with one process).

    NCCL when ``device`` is a GPU, Gloo otherwise; the rendezvous is torchrun's
    (``MASTER_ADDR`` / ``MASTER_PORT``).
    """
    if not world.distributed:
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        init_method="env://",
        rank=world.rank,
        world_size=world.size,
        device_id=device if device.type == "cuda" else None,
    )
    try:
        yield
        # Every process done with its collectives before any tears the group down (a
        # torchrun worker once aborted at exit, "terminate called without an active
        # exception", while its peer was still finishing).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def batch_share(world: World, batch_size: int) -> slice:
    """This process's block of the global batch's pair indices.

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of processes.
    """
    if batch_size % world.size:
        raise ValueError(
            f"config batch_size: {batch_size} pairs do not split over {world.size} processes; "
            "use a multiple of the number of processes"
        )
    n = batch_size // world.size
    return slice(world.rank * n, (world.rank + 1) * n)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The torch seed of process ``rank`` when a run starts (``step`` 0) or restarts there."""
    return seed + 1 + RANK_STRIDE * rank + 7919 * step


def random_states(world: World, device: torch.device, collective: bool = True) -> dict:
    """The random states a checkpoint stores (its ``metadata`` entries).

    ``rng_state`` (and ``cuda_rng_state`` on a GPU): this process's, as a single process
    stores them. With several processes also ``world_size`` and, unless ``collective`` is
    False (the others may be gone), ``rank_rng_states`` (and ``rank_cuda_rng_states``):
    every process's, in rank order, gathered from all of them.
    """
    states = dict(rng_state=torch.get_rng_state())
    if device.type == "cuda":
        states["cuda_rng_state"] = torch.cuda.get_rng_state(device)
    if not world.distributed:
        return states
    out = dict(states, world_size=world.size)
    if collective:
        every = gather(states, world)
        for key in states:
            out[f"rank_{key}s"] = [s[key] for s in every]
    return out


def restore_random_states(
    metadata: dict, seed: int, world: World, device: torch.device, step: int
) -> None:
    """Restores this process's random state from a checkpoint's ``metadata``.

    One process: the saved state (a resumed run continues bit-exactly on the CPU). Several:
    each process's own saved state when the checkpoint holds one per process of this world
    size; otherwise (another world size, or a single-process checkpoint) the process is
    seeded with :func:`rank_seed` ``(seed, rank, step)``.
    """
    if not world.distributed:
        if "rng_state" in metadata:
            torch.set_rng_state(metadata["rng_state"])
        if "cuda_rng_state" in metadata and device.type == "cuda":
            torch.cuda.set_rng_state(metadata["cuda_rng_state"], device)
        return
    states = metadata.get("rank_rng_states") or []
    if len(states) != world.size:
        torch.manual_seed(rank_seed(seed, world.rank, step))
        return
    torch.set_rng_state(states[world.rank])
    cuda_states = metadata.get("rank_cuda_rng_states") or []
    if device.type == "cuda" and len(cuda_states) == world.size:
        torch.cuda.set_rng_state(cuda_states[world.rank], device)


class _SumOverProcesses(torch.autograd.Function):
    """y = the sum of ``x`` over the processes; the gradient of x is that of y, summed too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def sum_over_processes(x: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce (sum) of ``x`` over the process group."""
    return _SumOverProcesses.apply(x)


class SyncBatchNormCPU(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, on the CPU.

    In training mode inside a process group the per-channel count, sum and sum of squares
    (float64) are summed over the processes by :func:`sum_over_processes` (one all-reduce
    forward, one backward: it is differentiable, so the gradient of the statistics is
    summed too); the result equals
    ``BatchNorm2d`` on the concatenated batch (to float rounding). Otherwise it is
    ``BatchNorm2d``. The parameters and buffers are BatchNorm2d's (same state dict keys).
    Statistics are computed in float32 at least (also under bf16 autocast).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        dims = (0, 2, 3)
        # One all-reduce of (sum x, sum x^2, count), accumulated in float64 so that
        # E[x^2] - E[x]^2 keeps float32 precision.
        count = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float64, device=x.device)
        local = torch.cat(
            [x.sum(dims, dtype=torch.float64), x.square().sum(dims, dtype=torch.float64), count]
        )
        sums = sum_over_processes(local)  # (2C + 1,)
        C, n = x.shape[1], sums[-1]
        mean64 = sums[:C] / n  # (C,)
        var = (sums[C : 2 * C] / n - mean64.square()).clamp_min(0).to(x.dtype)  # (C,) biased
        mean = mean64.to(x.dtype)
        centred = x - mean[None, :, None, None]
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                self.running_mean.lerp_(mean.detach(), m)
                unbiased = float(n) / max(float(n) - 1, 1.0)
                self.running_var.lerp_(var.detach() * unbiased, m)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm2d computing global-batch statistics.

    On a GPU :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm`; on the CPU each
    ``BatchNorm2d`` becomes a :class:`SyncBatchNormCPU` holding the same parameter and
    buffer tensors (in place; the module is returned).
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = SyncBatchNormCPU(
                child.num_features, child.eps, child.momentum, child.affine,
                child.track_running_stats, device=device,
            )  # fmt: skip
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device)
    return module


def mean_over_processes(values: dict[str, float], world: World, device: torch.device) -> dict:
    """``values`` averaged over the processes (every process gets the averages)."""
    if not world.distributed:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / world.size).tolist(), strict=True))


def from_main(obj, world: World):
    """Rank 0's ``obj`` in every process (a picklable object; ``obj`` elsewhere is ignored)."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj, world: World) -> list:
    """Every process's ``obj``, in rank order (in every process)."""
    if not world.distributed:
        return [obj]
    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (the model itself with one process).

    ``static_graph``: the same parameters take part in every step (modules outside
    ``train_modules`` have no gradient and are not synchronised). DDP's default buffer
    broadcast stays on: rank 0's BatchNorm running statistics reach the others before
    every forward (with ``sync_batchnorm`` they are equal anyway).
    """
    if not world.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, static_graph=True)
