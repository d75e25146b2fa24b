"""A tiny randomly initialised checkpoint for tests that run the real detector."""

from __future__ import annotations

from pathlib import Path


def write_random_checkpoint(path: Path, num_points: int = 8, seed: int = 0) -> Path:
    """Writes an untrained, small SkeletonModel checkpoint to ``path`` and returns it."""
    import torch

    from skeleton_perception.checkpoint import save_checkpoint
    from skeleton_perception.nn.model import ModelConfig, SkeletonModel

    torch.manual_seed(seed)
    cfg = ModelConfig(num_points=num_points, unet_width=8, psi_width=8, bg_width=8, bg_latent=8)
    model = SkeletonModel(cfg)
    return save_checkpoint(path, model.state_dict(), {"model": cfg.to_dict()})
