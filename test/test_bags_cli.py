"""The bag commands end to end: record-sim, predict, and one-line errors for bad bags."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skeleton_perception.training.bags.reader import image_topics, read_images, read_messages

from skeleton_perception.cli import main

NS = 1_000_000_000


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    pytest.importorskip("mujoco")
    pytest.importorskip("skeleton_perception.training.sim.live")
    out = tmp_path_factory.mktemp("sim") / "sim.mcap"
    code = main(
        ["record-sim", "--family", "cartpoles", "--frames", "24", "--out", str(out),
         "--width", "80", "--height", "64", "--rate", "20", "--episode-frames", "12"]
    )  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from skeleton_perception.checkpoint import save_checkpoint
    from skeleton_perception.nn.model import ModelConfig, SkeletonModel

    cfg = ModelConfig(num_points=4, unet_width=4, psi_width=4, bg_width=4)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, SkeletonModel(cfg).state_dict(), {"model": cfg.to_dict()})
    return path


def test_record_sim_writes_images_camera_info_and_ground_truth(sim_bag):
    assert [(t.name, t.count) for t in image_topics(sim_bag)] == [("/camera/image_raw", 24)]
    frames = list(read_images(sim_bag, "/camera/image_raw"))
    assert len(frames) == 24 and frames[0][1].shape == (64, 80, 3)
    assert frames[1][0] - frames[0][0] == NS // 20
    assert frames[0][1].std() > 0  # something was rendered
    by_topic: dict[str, list] = {}
    for topic, msg, t_ns in read_messages(sim_bag):
        by_topic.setdefault(topic, []).append((msg, t_ns))
    assert {k: len(v) for k, v in by_topic.items()} == {
        "/camera/image_raw": 24,
        "/camera/camera_info": 24,
        "/ground_truth": 24,
    }
    info, t_info = by_topic["/camera/camera_info"][0]
    assert info.width == 80 and info.k[0] > 0 and t_info == frames[0][0]
    truth, t_truth = by_topic["/ground_truth"][5]
    assert t_truth == frames[5][0]
    assert truth.header.stamp.sec * NS + truth.header.stamp.nanosec == t_truth
    assert (truth.image_width, truth.image_height) == (80, 64)
    ids = {j.id for j in truth.joints}
    assert len(ids) >= 2 and all(lk.joint_a in ids and lk.joint_b in ids for lk in truth.links)
    assert all(0 <= j.x <= 79 and 0 <= j.y <= 63 for j in truth.joints)


def test_predict_writes_an_overlay_video(sim_bag, tiny_checkpoint, tmp_path):
    out, snap = tmp_path / "video" / "overlay.mp4", tmp_path / "snap.png"
    code = main(
        ["predict", "--bag", str(sim_bag), "--model", str(tiny_checkpoint), "--out", str(out),
         "--snapshot", str(snap), "--batch", "5"]
    )  # fmt: skip
    assert code == 0
    video = cv2.VideoCapture(str(out))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) == 24
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(20, abs=0.5)
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (80, 64)
    video.release()
    strip = cv2.imread(str(snap))
    assert strip is not None and strip.shape == (64, 4 * 80, 3)
    assert not [p for p in out.parent.iterdir() if p.name != "overlay.mp4"]  # no temp left


def _assert_one_line_error(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    last = err[-1]
    assert "Traceback" not in "\n".join(err)
    for needle in needles:
        assert needle in last, last


def test_bad_bags_give_one_line_and_exit_code_2(tmp_path, capsys, sim_bag):
    truncated = tmp_path / "killed.mcap"
    data = sim_bag.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    other = tmp_path / "bag.zip"
    other.write_bytes(b"PK\x03\x04")
    cases = [
        ([str(truncated)], ["killed.mcap", "truncated"]),
        ([str(other)], ["bag.zip", "unknown storage format"]),
        ([str(sim_bag), "--topic", "/nope"], ["/nope", "no such topic", "/camera/image_raw"]),
        ([str(sim_bag), "--topic", "/camera/camera_info"], ["/camera/camera_info", "not an image"]),
    ]
    for args, needles in cases:
        argv = ["predict", "--bag", *args, "--out", str(tmp_path / "o.mp4")]
        _assert_one_line_error(capsys, argv, *needles)
    assert not (tmp_path / "o.mp4").exists()


def test_record_sim_refuses_to_overwrite(tmp_path, capsys, sim_bag):
    code = main(["record-sim", "--family", "cartpoles", "--frames", "2", "--out", str(sim_bag)])
    assert code == 2 and "exists" in capsys.readouterr().err


def test_record_sim_sqlite3_compressed(tmp_path):
    pytest.importorskip("mujoco")
    out = tmp_path / "simdir"
    code = main(
        ["record-sim", "--family", "cartpoles", "--frames", "6", "--out", str(out), "--width",
         "64", "--height", "48", "--storage", "sqlite3", "--compressed"]
    )  # fmt: skip
    assert code == 0 and (out / "metadata.yaml").exists()
    assert [(t.name, t.count) for t in image_topics(out)] == [("/camera/image_raw/compressed", 6)]
    assert np.stack([f for _, f in read_images(out)]).shape == (6, 48, 64, 3)


def test_record_sim_in_the_heldout_look_records_each_episodes_camera(tmp_path):
    pytest.importorskip("mujoco")
    out = tmp_path / "shifted.mcap"
    code = main(
        ["record-sim", "--family", "cartpoles", "--frames", "4", "--out", str(out), "--width",
         "64", "--height", "48", "--episode-frames", "2", "--appearance", "heldout"]
    )  # fmt: skip
    assert code == 0
    infos = [msg for topic, msg, _ in read_messages(out) if topic == "/camera/camera_info"]
    fx = [float(info.k[0]) for info in infos]
    assert fx[0] == fx[1] != fx[2] == fx[3]  # one camera per episode
    # the held-out field of view (60-72 degrees), not the plain camera's 45
    assert all(24 / math.tan(math.radians(36)) <= f <= 24 / math.tan(math.radians(30)) for f in fx)


def test_a_recorded_sim_bag_is_scored_with_its_ground_truth(sim_bag, tiny_checkpoint):
    from skeleton_perception.training.bags.scoring import bag_episodes, evaluate_bag
    from skeleton_perception.training.evaluation.predictors import OursPredictor

    episodes = list(bag_episodes(sim_bag, segment_s=0.6))  # 12 frames at 20 Hz per object
    assert [ep.frames.shape[0] for ep in episodes] == [12, 12]
    for ep in episodes:
        assert ep.joints.shape[:2] == ep.visible.shape == (12, ep.adjacency.shape[0])
        assert ep.visible.any() and ep.adjacency.any()
        np.testing.assert_array_equal(ep.adjacency, ep.adjacency.T)
    summary = evaluate_bag(
        sim_bag, OursPredictor(str(tiny_checkpoint)), epsilon=0.15, segment_s=0.6
    )
    assert summary["num_episodes"] == 2 and summary["num_frames"] == 24
    assert 0.0 <= summary["joints"]["f1"] <= 1.0


def test_train_options_build_the_bag_datasets(sim_bag):
    import argparse

    from skeleton_perception.training.bags.options import add_bag_arguments, bag_datasets_from_args

    parser = argparse.ArgumentParser()
    add_bag_arguments(parser)
    args = parser.parse_args(
        ["--bag", str(sim_bag), "--min-gap", "0.1", "--max-gap", "0.5", "--segment", "0.3",
         "--val-fraction", "0.25", "--cache-size", "8"]
    )  # fmt: skip
    train, val = bag_datasets_from_args(args, seed=1, progress=False)
    assert len(train) > 0 and len(val) > 0
    assert not set(train.indices) & set(val.indices)
    assert train.frames.cache_size == 8


def test_bag_pairs_feed_the_training_loop(sim_bag, tmp_path):
    train_module = pytest.importorskip("skeleton_perception.training.train")
    from skeleton_perception.training.bags.dataset import build_bag_datasets
    from skeleton_perception.training.config import load_config

    cfg = load_config(
        None,
        ["steps=2", "batch_size=2", "log_every=1", "plot_every=1000", "ckpt_every=2",
         "model.num_points=4", "model.unet_width=4", "model.psi_width=4", "model.bg_width=4"],
    )  # fmt: skip
    train, _ = build_bag_datasets(
        sim_bag, min_gap_s=0.1, max_gap_s=0.5, val_fraction=0.0, cache_size=8, progress=False
    )
    result = train_module.train(cfg, train, tmp_path / "run", progress=False)
    assert result["step"] == 2 and (tmp_path / "run" / "checkpoint.pt").exists()


def test_predict_warns_about_skipped_frames_on_one_line(tmp_path, capsys, tiny_checkpoint):
    from skeleton_perception.training.bags.writer import BagWriter, compressed_message

    bag = tmp_path / "jpeg.mcap"
    with BagWriter(bag) as w:
        w.add_topic("/cam/compressed", "sensor_msgs/msg/CompressedImage")
        for i in range(8):
            t = 10 * NS + i * NS // 10
            msg = compressed_message(w.typestore, np.full((32, 40, 3), 20 * i, np.uint8), t)
            if i in (2, 5):
                msg.data = np.frombuffer(b"not a jpeg at all", np.uint8).copy()
            w.write("/cam/compressed", msg, t)
    out = tmp_path / "o.mp4"
    code = main(["predict", "--bag", str(bag), "--model", str(tiny_checkpoint), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT) == 6
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "skipped 2 of 8" in warning[0] and "corrupt" in warning[0]
    assert warning[0].startswith("predict: warning: bag ")


def test_predict_draws_the_recorded_ground_truth(sim_bag, tiny_checkpoint, tmp_path):
    white = []
    for truth in ("/ground_truth", ""):
        snap = tmp_path / f"snap{len(white)}.png"
        argv = ["predict", "--bag", str(sim_bag), "--model", str(tiny_checkpoint), "--out",
                str(tmp_path / "o.mp4"), "--snapshot", str(snap), "--max-frames", "8",
                "--ground-truth", truth]  # fmt: skip
        assert main(argv) == 0
        white.append(int((cv2.imread(str(snap)).min(axis=2) >= 250).sum()))
    assert white[0] > white[1] + 20
