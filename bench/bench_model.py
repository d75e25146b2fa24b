"""Training pairs/s and inference ms/image of the default model, optimised vs naive.

    .venv/bin/python bench/bench_model.py [--threads 2] [--steps 10]

The naive column is a straightforward eager implementation of the same step and the
same architecture, run in the same process: NCHW tensors, Gumbel noise from
``exponential_`` (``F.gumbel_softmax``), the NPT blurring all P source maps instead of the
image once, and ℓ_contiguity with a (B, P, P, H*W) product and a 7x7 max-pool. Targets on
a 2-core CPU: >= 40 training pairs/s at P = 32, <= 3 ms per 64x64 image at batch 1.
Timings on a shared machine vary with the load; both columns run interleaved.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from skeleton_perception.training.losses import LossConfig, compute_losses

from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.nn.points import PointSet, expected_xy, index_to_xy


# --- the naive step -------------------------------------------------------------------
def naive_points(logits, tau):
    B, P, H, W = logits.shape
    soft = F.gumbel_softmax(logits.reshape(B, P, H * W), tau=tau, dim=-1)
    maps = soft.view(B, P, H, W)
    index = soft.detach().argmax(-1)
    return PointSet(logits, maps, expected_xy(maps), index_to_xy(index, W))


def naive_npt(npt, source, ms, mt, background):
    P = ms.shape[1]
    smooth = npt._blur(ms)  # (B, P, H, W): P maps blurred
    weighted = (smooth[:, :, None] * source[:, None]).sum((3, 4))  # (B, P, 3) via (B,P,3,H,W)
    colours = weighted / smooth.sum((2, 3))[..., None]
    w = npt.composite_weights(npt.coverage(mt))
    fg = (w[:, :P, None] * colours[..., None, None]).sum(1)  # (B, 3, H, W) via (B,P,3,H,W)
    return fg + w[:, P:] * background


def naive_neighbours(maps, kernel=7, stride=1):
    pooled = F.max_pool2d(maps, kernel, stride=stride, padding=kernel // 2).flatten(2)
    return (pooled[:, :, None, :] * pooled[:, None, :, :]).amax(-1)


def naive_forward(model, source, target):
    n = source.shape[0]
    logits = model.pi(torch.cat([source, target]) - 0.5)
    both = naive_points(logits, model.cfg.gumbel_tau)
    ps = PointSet(*(t[:n] for t in (both.logits, both.maps, both.xy, both.xy_hard)))
    pt = PointSet(*(t[n:] for t in (both.logits, both.maps, both.xy, both.xy_hard)))
    S = model.connectivity(source, ps.maps)
    background = model.background(target)
    recon = naive_npt(model.npt, source, ps.maps, pt.maps, background)
    return dict(source=ps, target=pt, S=S, background=background, recon=recon)


def make_naive(model):
    naive = copy.deepcopy(model)
    naive.pi.channels_last = False
    naive.pi.to(memory_format=torch.contiguous_format)
    return naive


# --- timing ---------------------------------------------------------------------------
def train_step_fn(model, naive, cfg_loss, batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    source, target = batch

    def step():
        if naive:
            import skeleton_perception.training.losses as L

            original = L.neighbour_matrix
            L.neighbour_matrix = naive_neighbours
            try:
                out = naive_forward(model, source, target)
                loss = L.compute_losses(out, target, cfg_loss)["total"]
            finally:
                L.neighbour_matrix = original
        else:
            out = model(source, target)
            loss = compute_losses(out, target, cfg_loss)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 1.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def timeit(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]  # median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps each")
    parser.add_argument("--images", type=int, default=40, help="timed inference images each")
    parser.add_argument("--points", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig(num_points=args.points)
    model = SkeletonModel(cfg)
    naive = make_naive(model)
    batch = (torch.rand(8, 3, 64, 64), torch.rand(8, 3, 64, 64))
    losses = LossConfig()
    print(f"threads {args.threads}, P {cfg.num_points}, U-Net width {cfg.unet_width}, batch 8")

    fast_step = train_step_fn(model.train(), False, losses, batch)
    slow_step = train_step_fn(naive.train(), True, losses, batch)
    t_fast = timeit(fast_step, args.steps)
    t_slow = timeit(slow_step, args.steps)
    pps_fast, pps_slow = 8 / t_fast, 8 / t_slow
    print(
        f"training  : optimised {pps_fast:6.1f} pairs/s | naive {pps_slow:6.1f} pairs/s | "
        f"speed-up x{pps_fast / pps_slow:.2f} | target >= 40 pairs/s"
    )

    x = torch.rand(1, 3, 64, 64)
    model.eval()
    naive.eval()
    with torch.inference_mode():
        ms_fast = timeit(lambda: model.predict(x), args.images) * 1000
        ms_slow = timeit(lambda: naive.predict(x), args.images) * 1000
        traced = torch.jit.optimize_for_inference(
            torch.jit.freeze(torch.jit.trace(_Predict(model).eval(), x, check_trace=False))
        )
        ms_jit = timeit(lambda: traced(x), args.images) * 1000
    print(
        f"inference : optimised {ms_fast:6.2f} ms/image | naive {ms_slow:6.2f} ms/image | "
        f"speed-up x{ms_slow / ms_fast:.2f} | frozen TorchScript {ms_jit:.2f} ms "
        f"(x{ms_slow / ms_jit:.2f}) | target <= 3 ms (batch 1)"
    )


class _Predict(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.predict(x)


if __name__ == "__main__":
    main()
