"""``skeleton-perception eval-3d`` on one short episode of real renders."""

from __future__ import annotations

import json

from skeleton_perception.training.evaluation import depth3d

from skeleton_perception.cli import main


def test_defaults_are_sim_cameras():
    import pytest

    pytest.importorskip("rclpy")
    from skeleton_perception.nodes.sim_camera_node import PARAMETERS

    defaults = {k: PARAMETERS[k][0] for k in ("family", "seed", "width", "height")}
    assert defaults == {
        "family": depth3d.SIM_FAMILY,
        "seed": depth3d.SIM_SEED,
        "width": depth3d.SIM_WIDTH,
        "height": depth3d.SIM_HEIGHT,
    }


def test_eval_3d_writes_the_errors(tmp_path):
    out = tmp_path / "r.json"
    argv = ["eval-3d", "--episodes", "1", "--width", "96", "--height", "72"]
    figure = tmp_path / "frame.png"
    assert main([*argv, "--depth-window", "1", "--out", str(out), "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 0
    r = json.loads(out.read_text())
    truth = r["ground_truth_pixels"]
    assert truth["valid_fraction"] == 1.0
    # The true pixels through the deprojection land on the surface seen there...
    assert truth["error_3d_vs_surface_mm"]["median"] < 5.0
    # ... which lies a body's radius (35 mm and more) in front of the joint.
    assert truth["error_3d_vs_joint_mm"]["median"] > 30.0
    det = r["detected"]
    assert det["matched_joint_frames"] > 0 and det["error_3d_vs_joint_mm"]["n"] > 0
    assert det["error_3d_vs_joint_mm"]["median"] > truth["error_3d_vs_surface_mm"]["median"]
