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


def randomise_batchnorm(module, seed: int = 0):
    """Gives every BatchNorm non-trivial running statistics and affine parameters."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return module.eval()
