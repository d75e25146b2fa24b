"""Checkpoints: atomic save, safe load (``torch.load(weights_only=True)``), clear errors.

A checkpoint is a dict of weights_only-safe types:

- ``format``: "skeleton_perception.checkpoint", ``version``: 1;
- ``model``: the SkeletonModel state dict (float32, or float16 in exported weights);
- ``optimizer``: the optimizer state dict, or None in exported weights;
- ``step``: training iterations done;
- ``config``: the full training config as a plain dict (``config["model"]`` is the
  ModelConfig);
- ``metadata``: free plain-dict information (versions, time, dataset, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from skeleton_perception.atomic import atomic_path

FORMAT = "skeleton_perception.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, truncated or does not fit the model."""


def to_cpu(obj):
    """``obj`` with every tensor in it (nested dicts, lists, tuples) moved to the CPU.

    Checkpoints of a run on a GPU then load on any machine without ``map_location``.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save_checkpoint(
    path: str | os.PathLike,
    model_state: dict,
    config: dict,
    step: int = 0,
    optimizer_state: dict | None = None,
    metadata: dict | None = None,
) -> Path:
    """Writes a checkpoint atomically (temp file in the same directory, then os.replace).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(
        format=FORMAT,
        version=VERSION,
        model=to_cpu(model_state),
        optimizer=to_cpu(optimizer_state),
        step=int(step),
        config=config,
        metadata=dict(metadata or {}),
    )
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Loads and validates a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle with code, not a torch file, ...
        raise CheckpointError(f"checkpoint {path}: cannot be read ({type(e).__name__}: {e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a skeleton_perception checkpoint")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path}: unsupported version {ckpt.get('version')!r}")
    for key in ("model", "config", "step"):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path}: missing {key!r}")
    if not isinstance(ckpt["config"], dict) or not isinstance(ckpt["config"].get("model"), dict):
        raise CheckpointError(f"checkpoint {path}: config has no 'model' section")
    return ckpt


def build_model_from_checkpoint(
    ckpt: dict, path: str | os.PathLike = "<memory>", overrides: dict | None = None
):
    """A :class:`~skeleton_perception.nn.SkeletonModel` with the checkpoint's weights.

    Args:
        ckpt: the loaded checkpoint.
        path: where it came from (for messages).
        overrides: model config keys to replace, e.g. ``{"structure": "search"}`` (only
            keys that do not change the weights' shapes make sense here).

    Raises:
        CheckpointError: when the config or the weights do not fit.
    """
    from .nn.model import ModelConfig, SkeletonModel

    try:
        cfg = ModelConfig.from_dict({**ckpt["config"]["model"], **(overrides or {})})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: bad model config ({e})") from e
    model = SkeletonModel(cfg)
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(first[:3])[:400]
        raise CheckpointError(
            f"checkpoint {path}: weights do not match the model config ({detail})"
        ) from e
    return model


def export_weights(src: str | os.PathLike, dst: str | os.PathLike, half: bool = True) -> Path:
    """Writes a small inference checkpoint: model weights (fp16 if ``half``), no optimizer.

    The config, step and metadata are kept (minus the RNG state); the detector casts the
    weights back to float32 when loading.
    """
    ckpt = load_checkpoint(src)
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in ckpt["model"].items()}
    random_states = ("rng_state", "rank_rng_states", "rank_cuda_rng_states")
    metadata = {k: v for k, v in ckpt["metadata"].items() if k not in random_states}
    metadata["exported_from"] = str(src)
    return save_checkpoint(dst, state, ckpt["config"], ckpt["step"], None, metadata)
