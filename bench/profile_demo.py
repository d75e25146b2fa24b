"""Where the demo's process spends itself: the executor, its threads, the garbage collector.

    .venv/bin/python bench/profile_demo.py [--rounds 2] [--frames 200]

Runs ``skeleton-perception demo`` in this process (its own code, default arguments) in
alternating rounds of three set-ups: **before** issue 17 (``--executor multi``, rclpy's
``MultiThreadedExecutor``, and the start-up heap not frozen), **single** (the
``SingleThreadedExecutor``, heap not frozen) and **now** (``SingleThreadedExecutor`` and
``gc.freeze`` after set-up, what the demo runs), and prints per run, next to the demo's
own rates and latency:

* **wait-set rebuilds/s**: how often the executor built its wait set (counted at rclpy's
  ``NumberOfEntities``, made once per rebuild) and over how many entities;
* **CPU per thread** in cores, from ``/proc/self/task`` between the camera's start and
  the report: the executor's spin thread (``demo_executor``), its pool threads, the
  detector's worker, and every thread still alive at the report (the camera's render
  thread has ended by then, so it is in none of them);
* **full collections**: generation-2 garbage collections during the run and the longest
  pause (``gc.callbacks``), with every thread of the process stopped;
* **GIL wait**: a probe thread sleeps 1 ms in a loop; how late it wakes (p99, max) is how
  long a thread coming back from C code waits for the GIL.

The probes add a thread and a callback; compare the two executors within one run of this
script, not with the demo's plain numbers. Not a test: it moves with the machine's load.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_DOMAIN_ID", "48")

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of every thread of this process, by Python thread name (else OS name)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        name = names.get(int(tid), f"(native) {comm}")
        out[name] = out.get(name, 0.0) + (int(stat[11]) + int(stat[12])) / TICKS
    return out


class Probes:
    """Counts wait-set rebuilds, full collections and GIL waits during one demo run."""

    def __init__(self) -> None:
        self.rebuilds = 0
        self.entities = 0
        self.full_gc: list[float] = []
        self.gil_late: list[float] = []
        self.cpu_start: tuple[float, dict] | None = None
        self.cpu_end: tuple[float, dict] | None = None
        self._gc_start = 0.0
        self._stop = threading.Event()

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif info["generation"] == 2 and self.cpu_start is not None and self.cpu_end is None:
            self.full_gc.append(time.perf_counter() - self._gc_start)

    def gil_probe(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            time.sleep(0.001)
            if self.cpu_start is not None and self.cpu_end is None:
                self.gil_late.append(time.perf_counter() - start - 0.001)

    def stop(self) -> None:
        self._stop.set()


SETUPS = {"before": ("multi", False), "single": ("single", False), "now": ("single", True)}


def run_once(executor: str, freeze: bool, frames: int, probes: Probes) -> dict:
    import rclpy.executors as executors

    from skeleton_perception.nodes import demo, runner, sim_camera_node

    count_entities = executors.NumberOfEntities
    report = demo._print_report
    camera_run = sim_camera_node.SimCameraNode._run
    summary: dict = {}

    def counting(*args):
        probes.rebuilds += 1
        probes.entities += sum(args)
        return count_entities(*args)

    def camera_started(self, *args):
        probes.cpu_start = (time.perf_counter(), thread_cpu_s())
        return camera_run(self, *args)

    def reported(*args, **kwargs):
        probes.cpu_end = (time.perf_counter(), thread_cpu_s())
        summary.update(report(*args, **kwargs))
        return summary

    freeze_heap = runner.freeze_startup_heap
    if not freeze:
        runner.freeze_startup_heap = lambda: None
    executors.NumberOfEntities = counting
    demo._print_report = reported
    sim_camera_node.SimCameraNode._run = camera_started
    gc.callbacks.append(probes.on_gc)
    probe = threading.Thread(target=probes.gil_probe, name="gil_probe", daemon=True)
    probe.start()
    try:
        parser = argparse.ArgumentParser()
        demo.add_arguments(parser)
        with tempfile.TemporaryDirectory() as tmp:
            args = parser.parse_args(
                ["--frames", str(frames), "--executor", executor, "--out", f"{tmp}/x.gif"]
            )
            start = time.perf_counter()
            demo.run(args)
            wall = time.perf_counter() - start
    finally:
        probes.stop()
        probe.join()
        gc.callbacks.remove(probes.on_gc)
        executors.NumberOfEntities = count_entities
        demo._print_report = report
        sim_camera_node.SimCameraNode._run = camera_run
        runner.freeze_startup_heap = freeze_heap
        gc.unfreeze()  # the next round starts as the first did
    (t0, cpu0), (t1, cpu1) = probes.cpu_start, probes.cpu_end
    cpu = {k: (v - cpu0.get(k, 0.0)) / (t1 - t0) for k, v in cpu1.items()}
    return {"summary": summary, "wall": wall, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the set-ups (2)")
    parser.add_argument("--frames", type=int, default=200, help="frames per run (200)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    for round_ in range(1, args.rounds + 1):
        for name, (executor, freeze) in SETUPS.items():
            probes = Probes()
            result = run_once(executor, freeze, args.frames, probes)
            s, cpu = result["summary"], result["cpu"]
            lat = s["latency_ms"]
            pool = sum(v for k, v in cpu.items() if k.startswith("ThreadPoolExecutor"))
            late = np.array(probes.gil_late) * 1e3
            print(
                f"round {round_} {name:6s}: input {s['input_hz']:.1f} Hz, output "
                f"{s['output_hz']:.1f} Hz, p99 {lat[99]:.1f} ms | wait-set rebuilds "
                f"{probes.rebuilds / result['wall']:.0f}/s over "
                f"{probes.entities / max(probes.rebuilds, 1):.0f} entities | CPU (cores): "
                f"spin thread {cpu.get('demo_executor', 0.0):.3f}, pool {pool:.3f}, "
                f"detector worker {cpu.get('detector', 0.0):.3f}, process "
                f"{sum(cpu.values()):.3f} | "
                f"full collections {len(probes.full_gc)}, longest "
                f"{1e3 * max(probes.full_gc, default=0.0):.0f} ms | GIL wait p99 "
                f"{np.percentile(late, 99):.1f} ms, max {late.max():.1f} ms",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
