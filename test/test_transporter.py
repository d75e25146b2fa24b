"""The Transporter baseline: shapes, keypoint geometry, transport, training and checkpoints."""

import csv
import itertools

import pytest
import torch
from skeleton_perception.training.baselines.train_transporter import (
    TrainConfig,
    load_checkpoint,
    train,
)
from skeleton_perception.training.baselines.transporter import (
    Transporter,
    TransporterConfig,
    gaussian_heatmaps,
    keypoint_coordinates,
    transport,
)

SMALL = TransporterConfig(num_keypoints=3, image_size=16, filters=(4, 4, 8, 8), decoder_filters=8)


def test_shapes_and_gradients_stop_at_the_source():
    model = Transporter(SMALL)
    src = torch.rand(2, 3, 16, 16, requires_grad=True)
    tgt = torch.rand(2, 3, 16, 16)
    out = model(src, tgt)
    assert out["reconstruction"].shape == (2, 3, 16, 16)
    assert out["centres_source"].shape == (2, 3, 2)
    out["reconstruction"].sum().backward()
    assert src.grad is None


def test_keypoint_at_a_peak_and_its_heatmap():
    logits = torch.full((1, 1, 9, 9), -50.0)
    logits[0, 0, 2, 6] = 50.0  # row y=2, column x=6 on a 9-cell [-1, 1] grid
    # The official coordinate is a softmax over the mean along the other axis: a single
    # strong cell still dominates its row and column.
    xy = keypoint_coordinates(logits * 9)
    assert xy[0, 0, 0].item() == pytest.approx(-1 + 2 * 6 / 8, abs=1e-3)
    assert xy[0, 0, 1].item() == pytest.approx(-1 + 2 * 2 / 8, abs=1e-3)
    heat = gaussian_heatmaps(xy, (9, 9), std=0.1)
    assert heat.shape == (1, 1, 9, 9)
    assert heat[0, 0, 2, 6].item() == pytest.approx(1.0, abs=1e-3)
    assert heat[0, 0, 2, 8].item() < 1e-6  # 0.5 away: exp(-25)


def test_transport_copies_target_features_under_target_keypoints():
    fa, fb = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    ha = torch.zeros(1, 1, 4, 4)
    hb = torch.zeros(1, 1, 4, 4)
    hb[0, 0, 1, 1] = 1.0
    out = transport(fa + 3, fb, ha, hb)
    assert out[0, :, 1, 1].tolist() == [1.0, 1.0]
    assert out[0, :, 0, 0].tolist() == [3.0, 3.0]


def test_centres_to_pixels_maps_grid_ends():
    model = Transporter(TransporterConfig(num_keypoints=1))  # 64 -> 32 feature grid, stride 2
    px = model.centres_to_pixels(torch.tensor([[-1.0, 1.0]]), (64, 64))
    assert px.tolist() == [[0.0, 62.0]]
    px = model.centres_to_pixels(torch.tensor([[-1.0, -1.0]]), (128, 128))
    assert px.tolist() == [[0.5, 0.5]]


def _batches():
    g = torch.Generator().manual_seed(0)
    while True:
        img = torch.zeros(4, 3, 16, 16)
        for b in range(4):
            y, x = torch.randint(2, 13, (2,), generator=g).tolist()
            img[b, :, y - 2 : y + 2, x - 2 : x + 2] = 1.0
        yield img.roll(1, 0), img


def test_training_writes_atomic_resumable_checkpoint(tmp_path):
    cfg = TrainConfig(steps=4, batch_size=4, save_every=2, log_every=1)
    path = train(SMALL, cfg, _batches(), tmp_path, metadata={"dataset": "toy"}, progress=False)
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 4 and raw["metadata"]["dataset"] == "toy"
    assert raw["metadata"]["train_seconds"] > 0 and "hardware" in raw["metadata"]
    assert not list(tmp_path.glob(".*.tmp"))
    # A killed run may have logged past its last checkpoint: those rows are dropped.
    with open(tmp_path / "log.csv", "a") as f:
        f.write("5,0.1,1.0\n")
    # Resume to 6 steps: continues from 4, appends to the log.
    cfg.steps = 6
    train(SMALL, cfg, _batches(), tmp_path, progress=False)
    model, raw = load_checkpoint(path)
    assert raw["step"] == 6 and not model.training
    assert [seg["from_step"] for seg in raw["metadata"]["segments"]] == [0, 4]
    assert raw["metadata"]["dataset"] == "toy"  # kept from the first run
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]


def test_loss_goes_down_on_a_toy_problem():
    torch.manual_seed(0)
    model = Transporter(SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = list(itertools.islice(_batches(), 4))
    first = None
    for i in range(40):
        src, tgt = batches[i % 4]
        loss = model.loss(src, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
