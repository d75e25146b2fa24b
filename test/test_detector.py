"""Preprocessing, checkpoints and the SkeletonDetector API."""

import numpy as np
import pytest
import torch
from torch import nn

from skeleton_perception import SkeletonDetector
from skeleton_perception.checkpoint import (
    CheckpointError,
    build_model_from_checkpoint,
    export_weights,
    load_checkpoint,
    save_checkpoint,
)
from skeleton_perception.detector import skeleton_from_prediction
from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.preprocess import Letterbox

TINY = dict(num_points=6, unet_width=4, psi_width=4, bg_width=4, bg_latent=8)


@pytest.mark.parametrize("wh", [(64, 64), (200, 100), (90, 300), (640, 480), (31, 17)])
def test_letterbox_round_trip(wh):
    w, h = wh
    box = Letterbox.fit(w, h, 64)
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)
    out = box.apply(image)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    pts = np.array([[0, 0], [w - 1, h - 1], [w / 3, h / 2]], np.float32)
    np.testing.assert_allclose(box.to_input_pixels(box.to_network_pixels(pts)), pts, atol=1e-3)
    assert max(box.new_width, box.new_height) == 64


def test_letterbox_pads_with_border_colour():
    image = np.zeros((50, 100, 3), np.uint8)
    image[:4, :] = (255, 0, 0)  # top rows red
    image[-4:, :] = (0, 0, 255)  # bottom rows blue
    out = Letterbox.fit(100, 50).apply(image)
    assert tuple(out[0, 32]) == (255, 0, 0) and tuple(out[-1, 32]) == (0, 0, 255)


def test_letterbox_maps_a_dot_back():
    w, h, x, y = 200, 100, 150, 30
    image = np.zeros((h, w, 3), np.uint8)
    image[y - 2 : y + 3, x - 2 : x + 3] = 255
    box = Letterbox.fit(w, h)
    net = box.apply(image)[..., 0].astype(float)
    ys, xs = np.mgrid[:64, :64]
    c = np.array([(xs * net).sum(), (ys * net).sum()]) / net.sum()
    np.testing.assert_allclose(box.to_input_pixels(c), [x, y], atol=0.5)


class BrightestPixelModel(nn.Module):
    """Stand-in model: point 0 at the brightest red pixel, point 1 at the brightest
    green, point 2 at the brightest blue; links 0-1 (0.9) and 1-2 (0.3)."""

    def __init__(self):
        super().__init__()
        self.cfg = ModelConfig(num_points=3, unet_width=4, psi_width=4, bg_width=4)
        self.dummy = nn.Parameter(torch.zeros(1))

    def predict(self, images):
        B, _, _, W = images.shape
        idx = images.flatten(2).argmax(-1)  # (B, 3)
        xy = torch.stack([idx % W, idx // W], -1).float()
        S = torch.tensor([[0, 0.9, 0.1], [0.9, 0, 0.3], [0.1, 0.3, 0]]).expand(B, 3, 3)
        return xy, S


def test_detector_maps_joints_to_input_pixels_non_square():
    det = SkeletonDetector(BrightestPixelModel(), device="cpu")
    w, h = 320, 120
    image = np.zeros((h, w, 3), np.uint8)
    image[20:26, 40:46, 0] = 255  # red blob centre (42.5, 22.5)
    image[90:96, 280:286, 1] = 255  # green blob centre (282.5, 92.5)
    image[60:66, 160:166, 2] = 255  # blue: point 2 has no link above 0.5
    sk = det(image)
    assert sk.image_size == (w, h)
    assert sk.joint_ids.tolist() == [0, 1]
    scale = w / 64
    np.testing.assert_allclose(sk.joints, [[42.5, 22.5], [282.5, 92.5]], atol=scale)
    assert sk.links.tolist() == [[0, 1]]
    np.testing.assert_allclose(sk.link_scores, [0.9])
    np.testing.assert_allclose(sk.joint_scores, [0.9, 0.9])
    assert sk.points.shape == (3, 2) and sk.connectivity.shape == (3, 3)
    low = SkeletonDetector(BrightestPixelModel(), device="cpu", link_threshold=0.2)(image)
    assert low.num_joints == 3 and len(low.links) == 2
    none = SkeletonDetector(BrightestPixelModel(), device="cpu", min_joint_score=0.95)(image)
    assert none.num_joints == 0 and none.links.shape == (0, 2)


def test_skeleton_from_prediction_types():
    S = np.zeros((4, 4), np.float32)
    sk = skeleton_from_prediction(np.zeros((4, 2)), S, Letterbox.fit(64, 64))
    assert sk.joints.shape == (0, 2) and sk.joints.dtype == np.float32
    assert sk.links.shape == (0, 2) and sk.links.dtype == np.int64
    assert sk.joint_ids.dtype == np.int64 and sk.link_scores.dtype == np.float32


def test_a_link_exactly_at_the_threshold_is_not_published():
    """The rule said everywhere (parameter, README, SkeletonLink.msg): score exceeds it."""
    S = np.zeros((4, 4), np.float32)
    S[0, 1] = S[1, 0] = 0.5  # exactly at the threshold: no link
    S[2, 3] = S[3, 2] = np.nextafter(np.float32(0.5), np.float32(1))  # just above: a link
    xy = np.array([[1, 1], [5, 5], [9, 9], [13, 13]], np.float32)
    sk = skeleton_from_prediction(xy, S, Letterbox.fit(64, 64), link_threshold=0.5)
    assert sk.joint_ids.tolist() == [2, 3]
    assert sk.links.tolist() == [[0, 1]] and sk.link_scores[0] > 0.5


@pytest.fixture
def tiny_checkpoint(tmp_path):
    model = SkeletonModel(ModelConfig(**TINY))
    path = save_checkpoint(
        tmp_path / "tiny.pt", model.state_dict(), {"model": model.cfg.to_dict()}, step=7
    )
    return model, path


def test_checkpoint_round_trip_and_detector(tiny_checkpoint):
    model, path = tiny_checkpoint
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 7
    loaded = build_model_from_checkpoint(ckpt, path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    det = SkeletonDetector.from_checkpoint(path, device="auto")
    assert det.input_size == 64 and det.device in ("cpu", "cuda:0", "cuda")
    out = det.predict_batch([np.zeros((48, 80, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)])
    assert len(out) == 2 and out[0].image_size == (80, 48)
    assert det.predict_batch([]) == []
    with pytest.raises(ValueError, match=r"image 0"):
        det(np.zeros((64, 64), np.uint8))


def test_truncated_checkpoint_names_file(tiny_checkpoint, tmp_path):
    _, path = tiny_checkpoint
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        SkeletonDetector.from_checkpoint(bad)


def test_wrong_file_and_mismatched_checkpoint(tiny_checkpoint, tmp_path):
    _, path = tiny_checkpoint
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    with pytest.raises(CheckpointError, match=r"junk\.pt.*not a skeleton_perception"):
        load_checkpoint(junk)
    ckpt = load_checkpoint(path)
    ckpt["config"]["model"]["num_points"] = 7
    other = save_checkpoint(tmp_path / "mismatch.pt", ckpt["model"], ckpt["config"])
    with pytest.raises(CheckpointError, match=r"mismatch\.pt.*do not match"):
        SkeletonDetector.from_checkpoint(other)
    with pytest.raises(CheckpointError, match=r"missing\.pt.*no such file"):
        SkeletonDetector.from_checkpoint(tmp_path / "missing.pt")


def test_pickled_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "skeleton_perception.checkpoint", "obj": nn.Linear(1, 1)}, evil)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*cannot be read"):
        load_checkpoint(evil)


def test_default_model_missing_is_one_clear_error(monkeypatch, tmp_path):
    import skeleton_perception.detector as detector

    monkeypatch.setattr(detector, "DEFAULT_WEIGHTS", tmp_path / "weights" / "default.pt")
    with pytest.raises(CheckpointError, match=r"default\.pt"):
        SkeletonDetector.from_checkpoint()


def test_fp16_export_loads(tiny_checkpoint, tmp_path):
    model, _ = tiny_checkpoint
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = save_checkpoint(tmp_path / "half.pt", half, {"model": model.cfg.to_dict()})
    det = SkeletonDetector.from_checkpoint(path, device="cpu")
    assert next(det.model.parameters()).dtype == torch.float32


def test_export_weights_is_small_and_loads(tiny_checkpoint, tmp_path):
    model, path = tiny_checkpoint
    out = export_weights(path, tmp_path / "export.pt")
    ckpt = load_checkpoint(out)
    assert ckpt["optimizer"] is None and ckpt["step"] == 7
    assert all(v.dtype != torch.float32 for v in ckpt["model"].values())
    det = SkeletonDetector.from_checkpoint(out, device="cpu")
    x = torch.rand(1, 3, 64, 64)
    _, S_a = model.eval().predict(x)
    _, S_b = det.model.predict(x)
    torch.testing.assert_close(S_a, S_b, atol=2e-2, rtol=0)


def test_predict_video_draws_one_searched_link_set_on_every_frame():
    """The clip's link set is the search over its sampled frames, with per-frame means."""
    from skeleton_perception.nn.structure_search import SearchConfig, search_skeleton

    torch.manual_seed(0)
    search = SearchConfig(sparse_joints=0.5, uniform=0.0)  # links even for an untrained π
    model = SkeletonModel(ModelConfig(**TINY, structure="search", search=search))
    det = SkeletonDetector(model, device="cpu", optimize=False)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 80, 3), np.uint8) for _ in range(7)]
    video = det.predict_video(frames, every=3, batch_size=4)  # searched on frames 0, 3, 6
    single = det.predict_batch(frames)
    assert len(video) == 7
    for v, s in zip(video, single, strict=True):
        np.testing.assert_allclose(v.points, s.points, atol=1e-4)  # the frame's own points
        np.testing.assert_array_equal(v.connectivity, video[0].connectivity)  # one link set
        np.testing.assert_array_equal(v.joint_ids, video[0].joint_ids)
    x, _ = det._letterboxed([frames[k] for k in (0, 3, 6)])
    xy, _ = model.predict(x)
    cfg = model.cfg.search
    mean = SearchConfig.from_dict(
        {
            **cfg.to_dict(),
            "near": cfg.near / 3,
            "uniform": cfg.uniform / 3,
            "length": cfg.length / 3,
        }
    )
    want = search_skeleton([f[None] for f in xy], 64, mean)[0].numpy()
    np.testing.assert_array_equal(video[0].connectivity, want)
    assert video[0].num_joints > 0
