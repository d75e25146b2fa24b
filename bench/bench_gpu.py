"""Training pairs/s and detector latency on a CUDA GPU against the CPU, in one process.

    python3 bench/bench_gpu.py [--cpu-threads 2] [--seconds 10]

Training rows: the real training step (``training/configs/default.yaml``'s model and
losses, Adam, gradient clipping) on random pairs, at batch 8 on the CPU (the baseline,
``--cpu-threads`` threads, 2 like the CI machine) and at batch 8, 64 and 256 on the GPU.
Pairs/s count image pairs through forward, backward and the update; the GPU is
synchronised before every clock read. The data is in memory: this measures the model,
not the loader.

Detector rows: ``SkeletonDetector`` on one 640x480 image (what the node does per frame),
median ms over ``--images`` calls: CPU (1 thread, as the node runs) vs CUDA float32 vs
CUDA float16, then ``predict_batch`` of 64 images on CUDA.

Needs a CUDA device; the CPU rows alone are ``bench/bench_model.py``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from skeleton_perception.training.config import load_config
from skeleton_perception.training.train import build_model, make_optimizer, training_step

from skeleton_perception import SkeletonDetector

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "default.yaml"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_pairs_per_s(device: torch.device, batch: int, seconds: float) -> float:
    """Pairs per second of the real training step at ``batch`` on ``device``."""
    cfg = load_config(CONFIG, [f"batch_size={batch}", f"device={device}"])
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    optimizer = make_optimizer(cfg, model)
    source = torch.rand(batch, 3, 64, 64, device=device)  # (B, 3, H, W)
    target = torch.rand(batch, 3, 64, 64, device=device)

    def step() -> None:
        training_step(cfg, model, optimizer, source, target, 1.0, cfg.model.gumbel_tau)

    for _ in range(3):  # warm-up: cuDNN autotuning, allocator
        step()
    sync(device)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        steps += 1
        sync(device)
    return steps * batch / (time.perf_counter() - t0)


def detector_ms(det: SkeletonDetector, image: np.ndarray, n: int) -> float:
    for _ in range(5):
        det(image)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        det(image)  # returns numpy: synchronised
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-threads", type=int, default=2, help="CPU baseline threads (2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per training row (10)")
    parser.add_argument("--images", type=int, default=200, help="per detector row (200)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device")
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    print(
        f"bench_gpu: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
        f"CPU baseline {args.cpu_threads} thread(s) of {os.cpu_count()}",
        flush=True,
    )
    torch.set_num_threads(args.cpu_threads)
    base = training_pairs_per_s(cpu, 8, args.seconds)
    print(f"training  : CPU batch 8 {base:8.1f} pairs/s (baseline)", flush=True)
    for batch in (8, 64, 256):
        pps = training_pairs_per_s(gpu, batch, args.seconds)
        print(f"training  : GPU batch {batch:3d} {pps:8.1f} pairs/s  x{pps / base:.1f}", flush=True)

    torch.set_num_threads(1)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    rows = {
        "CPU float32 (1 thread)": SkeletonDetector.from_checkpoint(None, device="cpu"),
        "CUDA float32": SkeletonDetector.from_checkpoint(None, device="cuda"),
        "CUDA float16": SkeletonDetector.from_checkpoint(None, device="cuda", half=True),
    }
    ms = {name: detector_ms(det, image, args.images) for name, det in rows.items()}
    base_ms = ms["CPU float32 (1 thread)"]
    for name, value in ms.items():
        print(f"detector  : 640x480 {name:24s} {value:6.2f} ms/image  x{base_ms / value:.2f}")
    det = rows["CUDA float16"]
    images = [image] * 64
    det.predict_batch(images)
    t0 = time.perf_counter()
    for _ in range(5):
        det.predict_batch(images)
    per_image = (time.perf_counter() - t0) / (5 * 64) * 1e3
    print(f"detector  : 640x480 CUDA float16 predict_batch(64) {per_image:6.3f} ms/image")


if __name__ == "__main__":
    main()
