"""Per-stage time of one 640x480 detection on one thread: the plain model vs its inference copy.

    .venv/bin/python bench/profile_detector.py [--size 640x480] [--reps 200] [--threads 1]

Stages as the detector node runs them: ``sensor_msgs/Image`` -> numpy view, to RGB, the
letterbox to 64x64, the network input tensor, π (the U-Net), the point maps (softmax,
expected xy, argmax), the sub-pixel refinement, ψ (heatmaps, concatenation, link logits,
S; or, for a model with ``structure = "search"``, the search that replaces ψ), then
``skeleton_from_prediction`` and the ``SkeletonGraph`` message; plus the whole
``SkeletonDetector`` call and ``model.predict``. Each stage is timed alone (median of
``--reps`` warm calls), so the stages add up to a little less than the whole call, which
also pays for cold caches between stages. Stages are timed for the shipped model
as loaded (``optimize=False``) and for the copy the detector runs (``optimize=True``),
in alternating rounds. Not a test: timings move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np
import torch

from skeleton_perception import SkeletonDetector
from skeleton_perception.detector import skeleton_from_prediction
from skeleton_perception.nn.model import point_heatmaps
from skeleton_perception.nn.points import refine_subpixel
from skeleton_perception.nodes.conversions import (
    GRAPH_TYPES,
    image_to_numpy,
    numpy_to_image,
    to_rgb,
)
from skeleton_perception.preprocess import Letterbox, to_tensor_layout
from skeleton_perception.skeleton_msg import skeleton_to_msg


def stage_functions(det: SkeletonDetector, image: np.ndarray) -> dict:
    """name -> a function running that stage alone (inputs prepared once)."""
    h, w = image.shape[:2]
    msg = numpy_to_image(image, "rgb8")
    pixels = image_to_numpy(msg)
    box = Letterbox.fit(w, h, det.input_size)
    boxed = box.apply(image)
    x = torch.from_numpy(to_tensor_layout(boxed)[None])
    m = det.inference_model
    with torch.inference_mode():
        pts = m.points(x, sample=False)
        xy = refine_subpixel(pts.logits)
        xy_np, S_np = (t[0].numpy() for t in m.predict(x))
    sk = skeleton_from_prediction(xy_np, S_np, box)

    def psi():
        # what model.connectivity does: heatmaps, link logits, S
        return m.connectivity(x, pts.maps)

    structure = getattr(m.cfg, "structure", "psi")
    extra = {}
    if structure == "search":  # S from the points by search; ψ is not run
        from skeleton_perception.nn.structure_search import search_skeleton

        extra["S by search (structure=search)"] = lambda: search_skeleton(
            [xy], m.cfg.image_size, m.cfg.search
        )
    return {
        "Image msg -> numpy view": lambda: image_to_numpy(msg),
        "to RGB, rgb8 copied (before)": lambda: to_rgb(pixels, "rgb8"),
        "to RGB, rgb8 not copied (now)": lambda: to_rgb(pixels, "rgb8", copy=False),
        "letterbox (INTER_AREA + border)": lambda: box.apply(image),
        "to network tensor": lambda: torch.from_numpy(to_tensor_layout(boxed)[None]),
        "pi (U-Net)": lambda: m.pi(x - 0.5),
        "point maps (pi + softmax etc.)": lambda: m.points(x, sample=False),
        "refine_subpixel": lambda: refine_subpixel(pts.logits),
        "psi heatmaps only": lambda: point_heatmaps(pts.maps),
        "psi (heatmaps, logits, S)": psi,
        **extra,
        "model.predict": lambda: m.predict(x),
        "skeleton_from_prediction": lambda: skeleton_from_prediction(xy_np, S_np, box),
        "SkeletonGraph message": lambda: skeleton_to_msg(sk, GRAPH_TYPES),
        "SkeletonDetector call": lambda: det(image),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480", help="input image WxH (640x480)")
    parser.add_argument("--reps", type=int, default=200, help="timed calls per stage")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped one)")
    parser.add_argument(
        "--structure", default=None, help="psi or search (default: the checkpoint's choice)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    variants = {
        name: stage_functions(
            SkeletonDetector.from_checkpoint(
                args.model, device="cpu", optimize=opt, structure=args.structure
            ),
            image,
        )
        for name, opt in (("plain", False), ("optimised", True))
    }
    times: dict = defaultdict(list)
    rounds = 4
    with torch.inference_mode():
        for _ in range(rounds):
            for variant, stages in variants.items():
                for stage, fn in stages.items():
                    for _ in range(5):
                        fn()
                    for _ in range(max(1, args.reps // rounds)):
                        t0 = time.perf_counter()
                        fn()
                        times[(variant, stage)].append(time.perf_counter() - t0)
    cfg = SkeletonDetector.from_checkpoint(
        args.model, device="cpu", optimize=False, structure=args.structure
    ).model.cfg
    print(
        f"{args.size}, {args.threads} torch thread(s), load average {os.getloadavg()[0]:.1f}, "
        f"structure {getattr(cfg, 'structure', 'psi')}; median ms per stage"
    )
    print(f"  {'stage':34s} {'plain':>8s} {'optimised':>10s}")
    for stage in variants["plain"]:
        a = np.median(times[("plain", stage)]) * 1e3
        b = np.median(times[("optimised", stage)]) * 1e3
        print(f"  {stage:34s} {a:8.3f} {b:10.3f}")


if __name__ == "__main__":
    main()
