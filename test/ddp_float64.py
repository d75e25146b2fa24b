"""A torchrun worker for test_distributed.py: ``train()`` on a generated dataset in float64.

    python -m torch.distributed.run --standalone --nproc-per-node 2 test/ddp_float64.py \
        DATA OUT KEY=VALUE ...

In float32, one and two processes sum in different orders, and Adam's first step
(lr * g / (|g| + eps)) turns that rounding into full-size steps of the parameters whose
gradient is nearly zero. In float64 the same code agrees to ~1e-12, so a wrong share of
the batch, gradient average or BatchNorm statistic (all ~1e-3) stands out.
"""

from __future__ import annotations

import sys

import torch
from skeleton_perception.training.config import load_config
from skeleton_perception.training.sim.pairs import PairDataset
from skeleton_perception.training.train import train
from torch.utils.data import Dataset


class Float64Pairs(Dataset):
    """The training pairs of a generated dataset (as ``train`` opens them) in float64."""

    def __init__(self, root, seed: int):
        self.pairs = PairDataset(root, split="train", seed=seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> dict:
        item = self.pairs[k]
        return dict(source=item["source"].double(), target=item["target"].double())


def train_float64(data, out, overrides) -> dict:
    """``train()`` with float64 weights and data (the default dtype is restored after)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cfg = load_config(None, overrides)
        return train(cfg, Float64Pairs(data, cfg.seed), out, progress=False)
    finally:
        torch.set_default_dtype(old)


if __name__ == "__main__":
    train_float64(sys.argv[1], sys.argv[2], sys.argv[3:])
