"""Does the demo keep up with its camera? The demo against the same nodes as separate processes.

    .venv/bin/python bench/bench_demo.py                  # 3 rounds, this machine as it is
    .venv/bin/python bench/bench_demo.py --acceptance     # issue 17's runs: 5 idle + 5 busy

Each round runs, one after the other, with the demo's defaults (Cartpoles, 320x240 at
20 Hz, 200 frames, the shipped model on the CPU):

* **demo**: ``bash scripts/demo.sh`` exactly as a user runs it (``sim_camera``, ``detector``
  and the collector in one process), its printed rates and latency parsed;
* **separate**: the ``sim_camera`` and ``detector`` executables in processes of their own,
  as ``detector.launch.py use_sim_camera:=true`` starts them, and the demo's collector in
  this process, summarised by the demo's own code (:func:`demo.summarise`);
* **multi** (with ``--multi``): the demo with ``--executor multi``, rclpy's
  ``MultiThreadedExecutor`` that the demo ran before (the cause of issue 17; the start-up
  heap frozen as now, see ``bench/profile_demo.py`` for the set-up as it was).

It prints, per run, the input rate against the camera's nominal rate, the output rate
against the input, and the latency p50/p99 (image stamp -> skeleton received), then per
mode the worst of each and the demo's medians against the separate processes'. A run
passes when input >= 0.95 x camera rate, output >= 0.95 x input and p99 <= 100 ms (issue
17's bar). ``--conditions idle,busy`` repeats the rounds with another process keeping one
core busy (a Python busy loop). The load average is printed before every run: "idle"
only means this script starts nothing else, so run it on an otherwise idle machine.
The table is also written to ``results/bench/demo_<UTC time>.txt``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Our own DDS domain: other ROS 2 processes on the machine neither see nor disturb the runs.
os.environ.setdefault("ROS_DOMAIN_ID", "47")

INPUT_MIN, OUTPUT_MIN, P99_MAX_MS = 0.95, 0.95, 100.0
RATE = re.compile(r"rate: input ([\d.naN]+) Hz, output ([\d.naN]+) Hz")
LATENCY = re.compile(r"p50 ([\d.naN]+) ms, p95 ([\d.naN]+) ms, p99 ([\d.naN]+) ms")


from bench_node import stop  # noqa: E402  (bench/ is on sys.path when run)


def run_demo(args, executor: str, workdir: Path) -> dict:
    """``bash scripts/demo.sh`` (the user's command) in a child process; its parsed report."""
    cmd = ["bash", str(ROOT / "scripts" / "demo.sh"), "--frames", str(args.frames)]
    cmd += ["--rate", str(args.rate), "--out", str(workdir / "demo.gif")]
    if executor != "single":
        cmd += ["--executor", executor]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    text = done.stdout + done.stderr
    rate, latency = RATE.search(text), LATENCY.search(text)
    if done.returncode != 0 or rate is None or latency is None:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{text[-2000:]}")
    return {
        "input_hz": float(rate.group(1)),
        "output_hz": float(rate.group(2)),
        "p50_ms": float(latency.group(1)),
        "p99_ms": float(latency.group(3)),
    }


def _node_process(module: str, params: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", f"skeleton_perception.nodes.{module}", "--ros-args"]
    for name, value in params.items():
        cmd += ["-p", f"{name}:={value}"]
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def run_separate(args) -> dict:
    """``sim_camera`` and ``detector`` as processes of their own, the collector in this one."""
    import rclpy

    from skeleton_perception.nodes.demo import make_collector, summarise
    from skeleton_perception.nodes.runner import make_executor

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    executor = make_executor(context)
    collector = make_collector(context, keep_image_every=10**9)  # no animation frames
    executor.add_node(collector)
    procs = []
    try:
        procs.append(_node_process("detector_node", {}))

        def spin_until(predicate, timeout: float) -> bool:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not predicate():
                executor.spin_once(timeout_sec=0.05)
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a node process exited early")
            return predicate()

        # The camera starts once the detector listens (as the demo's frames all reach it).
        if not spin_until(lambda: collector.count_publishers("/skeleton") > 0, 120.0):
            raise RuntimeError("the detector did not start within 120 s")
        camera = {"rate_hz": float(args.rate), "max_frames": args.frames}
        procs.append(_node_process("sim_camera_node", {**camera, "depth_encoding": "none"}))
        # Frames sent before the new camera's publishers matched are not received: the run
        # ends with the last frame, or when no frame came for 2 s after some did.
        last = {"count": -1, "at": time.monotonic()}

        def camera_done() -> bool:
            truths, now = collector.data.truths, time.monotonic()
            if truths != last["count"]:
                last.update(count=truths, at=now)
            return truths >= args.frames or (truths > 0 and now - last["at"] > 2.0)

        spin_until(camera_done, args.timeout)
        spin_until(lambda: collector.data.skeletons >= collector.data.truths, 3.0)
        with collector.lock:
            summary = summarise(collector.data, radius=1.0)
    finally:
        for proc in procs:
            stop(proc)
        executor.shutdown()
        collector.destroy_node()
        rclpy.shutdown(context=context)
    lat = summary["latency_ms"]
    return {
        "input_hz": summary["input_hz"],
        "output_hz": summary["output_hz"],
        "p50_ms": lat[50],
        "p99_ms": lat[99],
    }


# A run that failed (exit status, crash, timeout): counted, never meets the bar.
FAILED = {"input_hz": 0.0, "output_hz": 0.0, "p50_ms": float("inf"), "p99_ms": float("inf")}
FAILED["ok"] = False


def passes(row: dict, rate: float) -> bool:
    """Issue 17's bar for one run."""
    return (
        row["input_hz"] >= INPUT_MIN * rate
        and row["output_hz"] >= OUTPUT_MIN * row["input_hz"]
        and row["p99_ms"] <= P99_MAX_MS
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per condition (3)")
    parser.add_argument("--frames", type=int, default=200, help="frames per run (200)")
    parser.add_argument("--rate", type=float, default=20.0, help="camera rate in Hz (20)")
    parser.add_argument(
        "--conditions", default="idle", help="comma-separated: idle, busy (one core kept busy)"
    )
    parser.add_argument(
        "--multi", action="store_true", help="also run the demo with --executor multi"
    )
    parser.add_argument("--no-separate", action="store_true", help="skip the separate-process runs")
    parser.add_argument(
        "--acceptance",
        action="store_true",
        help="issue 17's runs: --rounds 5 --conditions idle,busy",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run (120)")
    parser.add_argument("--log-dir", default=str(ROOT / "results" / "bench"))
    args = parser.parse_args()
    if args.acceptance:
        args.rounds, args.conditions = 5, "idle,busy"
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if not set(conditions) <= {"idle", "busy"}:
        parser.error("--conditions takes idle and/or busy")
    modes = ["demo", *(["multi"] if args.multi else [])]
    modes += [] if args.no_separate else ["separate"]

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    started = datetime.now(timezone.utc)
    say(
        f"bench_demo {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, camera "
        f"{args.rate:g} Hz, {args.frames} frames, {args.rounds} round(s) x {conditions}; "
        f"bar: input >= {INPUT_MIN} x camera, output >= {OUTPUT_MIN} x input, "
        f"p99 <= {P99_MAX_MS:g} ms"
    )
    say(
        f"{'condition':9s} {'round':>5s} {'mode':8s} {'load1':>5s} {'in Hz':>6s} {'in/cam':>6s} "
        f"{'out Hz':>6s} {'out/in':>6s} {'p50 ms':>7s} {'p99 ms':>7s}  bar"
    )
    rows: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    for condition in conditions:
        busy = None
        if condition == "busy":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(1.0)
        try:
            for round_ in range(1, args.rounds + 1):
                for mode in modes:
                    load = os.getloadavg()[0]
                    try:
                        if mode == "separate":
                            row = run_separate(args)
                        else:
                            executor = "multi" if mode == "multi" else "single"
                            row = run_demo(args, executor, workdir)
                    except (RuntimeError, subprocess.TimeoutExpired) as err:  # a failed run
                        say(f"{condition:9s} {round_:5d} {mode:8s} {load:5.2f} FAILED: {err}")
                        rows.append(dict(FAILED, condition=condition, mode=mode, load=load))
                        continue
                    row.update(condition=condition, mode=mode, load=load)
                    row["ok"] = passes(row, args.rate)
                    rows.append(row)
                    say(
                        f"{condition:9s} {round_:5d} {mode:8s} {load:5.2f} "
                        f"{row['input_hz']:6.1f} {row['input_hz'] / args.rate:6.3f} "
                        f"{row['output_hz']:6.1f} {row['output_hz'] / row['input_hz']:6.3f} "
                        f"{row['p50_ms']:7.1f} {row['p99_ms']:7.1f}  "
                        f"{'met' if row['ok'] else 'MISSED'}"
                    )
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()

    say("summary (worst run per condition and mode; medians against the separate processes):")
    for condition in conditions:
        sep = [r for r in rows if r["condition"] == condition and r["mode"] == "separate"]
        for mode in modes:
            every = [r for r in rows if r["condition"] == condition and r["mode"] == mode]
            mine = [r for r in every if r["input_hz"] > 0]  # runs that finished
            text = (
                f"  {condition:5s} {mode:8s} runs meeting the bar {sum(r['ok'] for r in every)}"
                f"/{len(every)} ({len(every) - len(mine)} failed)"
            )
            if mine:
                text += (
                    f"; worst in/cam {min(r['input_hz'] for r in mine) / args.rate:.3f}, "
                    f"out/in {min(r['output_hz'] / r['input_hz'] for r in mine):.3f}, "
                    f"p99 {max(r['p99_ms'] for r in mine):.1f} ms"
                )
            sep = [r for r in sep if r["input_hz"] > 0]
            if sep and mine and mode != "separate":
                med = {k: statistics.median(r[k] for r in mine) for k in mine[0] if "_" in k}
                ref = {k: statistics.median(r[k] for r in sep) for k in sep[0] if "_" in k}
                text += (
                    f"; vs separate: input x{med['input_hz'] / ref['input_hz']:.3f}, "
                    f"output x{med['output_hz'] / ref['output_hz']:.3f}, "
                    f"p99 x{med['p99_ms'] / ref['p99_ms']:.2f}"
                )
            say(text)
    loaded = [r for r in rows if r["condition"] == "idle" and r["load"] > 1.0]
    if loaded:
        say(
            f"note: {len(loaded)} 'idle' run(s) started with a load average above 1 (up to "
            f"{max(r['load'] for r in loaded):.2f}): the machine was not idle"
        )
    demo_rows = [r for r in rows if r["mode"] == "demo"]
    verdict = all(r["ok"] for r in demo_rows)
    say(
        f"demo: {sum(r['ok'] for r in demo_rows)} of {len(demo_rows)} runs meet the bar "
        f"({'all' if verdict else 'NOT all'})"
    )

    from skeleton_perception.atomic import write_bytes_atomic

    log = Path(args.log_dir) / f"demo_{started:%Y%m%dT%H%M}.txt"
    write_bytes_atomic(log, ("\n".join(lines) + "\n").encode())
    print(f"wrote {log}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
