"""The ``skeleton-perception demo`` command end to end (real nodes, DDS, MuJoCo, model)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from detector_fixtures import write_random_checkpoint

from skeleton_perception.cli import main as cli_main
from skeleton_perception.nodes.demo import LiveScore, frame_accuracy

pytestmark = pytest.mark.ros


def test_frame_accuracy_counts_both_ways():
    truth = np.array([[0, 0], [10, 0], [50, 50]], np.float32)
    pred = np.array([[1, 1], [11, -1], [30, 30], [31, 30]], np.float32)
    assert frame_accuracy(pred, truth, radius=2.0) == (2, 2)
    assert frame_accuracy(pred[:0], truth, 2.0) == (0, 0)
    score = LiveScore()
    score.add(pred, truth, 2.0)
    s = score.summary()
    assert s["found"] == pytest.approx(2 / 3) and s["on_joint"] == pytest.approx(0.5)
    assert s["count_diff"] == 1


def test_demo_runs_end_to_end(tmp_path, capsys):
    checkpoint = write_random_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "demo.gif"
    argv = ["demo", "--model", str(checkpoint), "--device", "cpu", "--frames", "30"]
    argv += ["--rate", "30", "--width", "96", "--height", "64", "--out", str(out)]
    argv += ["--link-threshold", "0.0", "--still", str(tmp_path / "still.png")]
    assert cli_main(argv) == 0
    text = capsys.readouterr().out
    for expected in ("rate: input", "latency", "p99", "live accuracy", "wrote"):
        assert expected in text, text
    from PIL import Image

    with Image.open(out) as gif:
        assert gif.size == (96, 64) and gif.n_frames >= 5
    with Image.open(tmp_path / "still.png") as still:
        assert still.size == (96, 64)


def test_demo_with_missing_model_says_which_file(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    assert cli_main(["demo", "--model", str(missing), "--frames", "2"]) == 2
    assert str(missing) in capsys.readouterr().out
