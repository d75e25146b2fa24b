"""Training pairs/s and inference ms/image of the default model, optimised vs naive.

    .venv/bin/python bench/bench_model.py [--threads 2] [--steps 10]
    .venv/bin/python bench/bench_model.py --threads 1 --inference-only   # inference rows only
    .venv/bin/python bench/bench_model.py --threads 1 --inference-only --against OTHER.pt

The naive column is a straightforward eager implementation of the same step and the
same architecture, run in the same process: NCHW tensors, Gumbel noise from
``exponential_`` (``F.gumbel_softmax``), the NPT blurring all P source maps instead of the
image once, and ℓ_contiguity with a (B, P, P, H*W) product and a 7x7 max-pool. Targets on
a 2-core CPU: >= 40 training pairs/s at P = 32, <= 3 ms per 64x64 image at batch 1.
Timings on a shared machine vary with the load; both columns run interleaved.

Inference rows: ``model.predict`` in eager mode (the trained model as is), the naive NCHW
copy, a frozen TorchScript trace, and the inference-only copy that ``SkeletonDetector``
runs (``skeleton_perception.nn.inference.optimize_for_inference``: BatchNorm folded,
prepacked oneDNN convolutions with fused activations); then the whole ``SkeletonDetector``
call on a 640x480 image, optimised vs ``optimize=False``. Variants are timed in
interleaved rounds (medians pooled) so that a change in the machine's load hits all of
them alike. The shipped model is used when present (``--random`` for random weights).
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
import torch.nn.functional as F
from skeleton_perception.training.losses import LossConfig, compute_losses

from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.nn.inference import optimize_for_inference
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


def interleaved(fns: dict, reps: int, rounds: int = 5, warmup: int = 3) -> dict:
    """Median seconds per call of each function, timed in alternating rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict = {name: [] for name in fns}
    per_round = max(1, reps // rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def load_model(points: int, random_weights: bool, structure: str | None = None) -> SkeletonModel:
    """The shipped model (if present and not ``random_weights``), else random weights.

    ``structure`` ("psi" or "search") overrides how the model predicts S.
    """
    from skeleton_perception.checkpoint import build_model_from_checkpoint, load_checkpoint
    from skeleton_perception.detector import DEFAULT_WEIGHTS

    overrides = {} if structure is None else {"structure": structure}
    if not random_weights and DEFAULT_WEIGHTS.is_file():
        ckpt = load_checkpoint(DEFAULT_WEIGHTS)
        return build_model_from_checkpoint(ckpt, DEFAULT_WEIGHTS, overrides)
    return SkeletonModel(ModelConfig(num_points=points, **overrides))


def bench_inference(args) -> None:
    """The inference rows (batch 1, 64x64 network input; then a 640x480 detector call)."""
    import numpy as np

    from skeleton_perception import SkeletonDetector

    model = load_model(args.points, args.random, args.structure).eval()
    structure = getattr(model.cfg, "structure", "psi")
    naive = make_naive(model).eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    fast = optimize_for_inference(model, lambda m: m.predict(x))
    fns = {"eager": lambda: model.predict(x), "naive": lambda: naive.predict(x)}
    with torch.inference_mode():
        if structure == "psi":  # a trace bakes in the search's data-dependent loop
            traced = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(_Predict(model).eval(), x, check_trace=False))
            )
            fns["jit"] = lambda: traced(x)
        fns["copy"] = lambda: fast.predict(x)
        ms = interleaved(fns, args.images)
    ms = {k: v * 1000 for k, v in ms.items()}
    jit = f"{ms['jit']:6.2f}" if "jit" in ms else "  n/a (search)"
    print(f"model     : structure {structure}")
    print(
        f"inference : eager {ms['eager']:6.2f} ms/image | naive {ms['naive']:6.2f} | frozen "
        f"TorchScript {jit} | inference copy (nn.inference) {ms['copy']:6.2f} | "
        f"copy vs eager x{ms['eager'] / ms['copy']:.2f}, vs naive x{ms['naive'] / ms['copy']:.2f}"
        f" | target <= 3 ms (batch 1)"
    )
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    dets = {
        "optimised": SkeletonDetector(model, device="cpu"),
        "plain": SkeletonDetector(copy.deepcopy(model), device="cpu", optimize=False),
    }
    det_ms = interleaved({k: (lambda d=d: d(image)) for k, d in dets.items()}, args.images)
    det_ms = {k: v * 1000 for k, v in det_ms.items()}
    print(
        f"detector  : SkeletonDetector on 640x480, optimised {det_ms['optimised']:6.2f} ms | "
        f"optimize=False {det_ms['plain']:6.2f} ms | x{det_ms['plain'] / det_ms['optimised']:.2f}"
    )
    if args.against:
        other = SkeletonDetector.from_checkpoint(args.against, device="cpu")
        pair = {"model": dets["optimised"], "against": other}
        pair_ms = interleaved({k: (lambda d=d: d(image)) for k, d in pair.items()}, args.images)
        print(
            f"against   : SkeletonDetector on 640x480, this model {pair_ms['model'] * 1000:6.2f} ms"
            f" | {args.against} {pair_ms['against'] * 1000:6.2f} ms"
            f" | x{pair_ms['against'] / pair_ms['model']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps each")
    parser.add_argument("--images", type=int, default=40, help="timed inference images each")
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--inference-only", action="store_true", help="skip the training row")
    parser.add_argument("--random", action="store_true", help="random weights for inference")
    parser.add_argument(
        "--against", default=None, metavar="CHECKPOINT",
        help="also time the detector of another checkpoint, interleaved (ratio to this model)",
    )  # fmt: skip
    parser.add_argument(
        "--structure", default=None, help="psi or search (default: the checkpoint's choice)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.inference_only:
        print(f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
        bench_inference(args)
        return
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

    bench_inference(args)


class _Predict(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.predict(x)


if __name__ == "__main__":
    main()
