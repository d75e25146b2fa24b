"""The training loop on a tiny synthetic pair dataset: learning, resuming, configs."""

import csv
import math

import numpy as np
import pytest
import torch
from skeleton_perception.training import train as train_mod
from skeleton_perception.training.config import TrainConfig, load_config
from torch.utils.data import Dataset

from skeleton_perception.checkpoint import load_checkpoint


class SwingingBar(Dataset):
    """A bar rotating about a pivot over a smooth two-colour background; a pair is the
    same bar at two random angles."""

    def __init__(self, n=32, size=64):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def render(self, angle):
        s = self.size
        ys, xs = np.mgrid[:s, :s].astype(np.float32)
        img = np.stack([0.2 + 0.3 * ys / s, 0.3 + 0.0 * xs, 0.6 - 0.3 * xs / s], 0)
        px, py = s / 2, s / 2
        t = (xs - px) * math.cos(angle) + (ys - py) * math.sin(angle)
        d = np.abs(-(xs - px) * math.sin(angle) + (ys - py) * math.cos(angle))
        bar = (d < 2.0) & (t > -2) & (t < s * 0.4)
        img[:, bar] = np.array([1.0, 0.9, 0.1], np.float32)[:, None]
        return torch.from_numpy(img)

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        a, b = rng.uniform(0, 2 * math.pi, 2)
        return dict(source=self.render(a), target=self.render(b), episode=0)


class KilledError(Exception):
    pass


class DiesAfter(Dataset):
    """Wraps a dataset and raises (like a kill, no clean-up) after ``n`` items."""

    def __init__(self, data, n):
        self.data, self.n, self.calls = data, n, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.calls += 1
        if self.calls > self.n:
            raise KilledError
        return self.data[i]


def tiny_config(**kw):
    cfg = load_config(
        None,
        [
            "model.num_points=8",
            "model.unet_width=4",
            "model.psi_width=4",
            "model.bg_width=4",
            "model.bg_latent=4",
            "batch_size=4",
            "threads=1",
            "log_every=5",
            "plot_every=1000",
            "ckpt_every=5",
            "num_samples=2",
        ],
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_tiny_training_run_decreases_the_loss(tmp_path):
    cfg = tiny_config(steps=60, lr=3e-3)
    result = train_mod.train(cfg, SwingingBar(), tmp_path, progress=False)
    rows = read_log(tmp_path / "log.csv")
    assert len(rows) == 12 and result["step"] == 60
    first = float(rows[0]["recon"])
    last = float(rows[-1]["recon"])
    assert last < 0.7 * first, (first, last)
    for name in ("checkpoint.pt", "config.yaml", "losses.png", "samples.png"):
        assert (tmp_path / name).is_file(), name
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == 60 and ckpt["config"]["model"]["num_points"] == 8
    assert TrainConfig.from_dict(ckpt["config"]) == cfg


def cover_shapes_config(**kw):
    """A tiny run with the cover loss and its learnt shapes (fixed joints 0, 3, 5)."""
    cfg = tiny_config(**kw)
    cfg.model.structure, cfg.model.joint_ids = "fixed", [0, 3, 5]
    cfg.loss.points_cover, cfg.loss.cover_shapes, cfg.loss.cover_threshold = 1.0, True, 0.0
    return cfg


@pytest.mark.parametrize("config", [tiny_config, cover_shapes_config], ids=["plain", "shapes"])
def test_resume_after_a_kill_continues_exactly(tmp_path, config):
    # Bit-exact resumption is checked on the CPU. On CUDA (an H100, 2026-11-26) the resumed
    # weights differed from the uninterrupted run's: PyTorch's CUDA kernels (cuDNN's
    # backward convolutions among them) are not deterministic by default. test_cuda.py
    # checks that a GPU run resumes.
    data = SwingingBar()
    full = tmp_path / "full"
    train_mod.train(config(steps=10, device="cpu"), data, full, progress=False)
    # the "killed" run dies while loading step 7's batch (its last checkpoint: step 5)
    part = tmp_path / "part"
    with pytest.raises(KilledError):
        train_mod.train(
            config(steps=10, device="cpu"), DiesAfter(data, 2 + 7 * 4), part, progress=False
        )
    assert load_checkpoint(part / "checkpoint.pt")["step"] == 5
    train_mod.train(config(steps=10, device="cpu"), data, part, resume=True, progress=False)
    a, b = (load_checkpoint(p / "checkpoint.pt") for p in (full, part))
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], msg=k)
    if config is cover_shapes_config:  # the shapes are kept, resumed and trained too
        shapes = a["metadata"]["cover_shapes"]
        assert shapes["blob"].abs().sum() > 0
        torch.testing.assert_close(shapes, b["metadata"]["cover_shapes"])
    assert [r["step"] for r in read_log(part / "log.csv")] == ["5", "10"]


def test_ramp_and_tau_schedules():
    cfg = TrainConfig(steps=1000)
    assert train_mod.ramp_length(cfg) == 300  # 0.3 of a short run, not 10K
    assert train_mod.get_ramp(cfg, 0) == 0 and train_mod.get_ramp(cfg, 150) == 0.5
    assert train_mod.get_ramp(cfg, 5000) == 1
    assert train_mod.ramp_length(TrainConfig(steps=100_000)) == 10_000
    assert train_mod.get_tau(cfg, 500) == 1.0
    cfg.tau_final = 0.25
    assert train_mod.get_tau(cfg, 1000) == pytest.approx(0.25)
    assert train_mod.get_tau(cfg, 500) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["spiders", "spiders0shot", "mwhc", "cartpoles", "swimmers"])
def test_dataset_configs_hold_the_paper_weights(name):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "training" / "configs"
    cfg = load_config(root / f"{name}.yaml")
    table = {
        "spiders": (10, 0.0, 10, 0.005, 1, 1, 1000),
        "spiders0shot": (10, 0.0, 10, 0.1, 2000, 20, 100),
        "mwhc": (10, 0.001, 10, 0.01, 1000, 20, 1000),
        "cartpoles": (10, 0.001, 10, 0.1, 500, 10, 100),
        "swimmers": (10, 0.001, 10, 0.1, 7000, 20, 1000),
    }[name]
    got = (
        cfg.loss.recon, cfg.loss.contiguity, cfg.model.search.near, cfg.loss.sparse_joints,
        cfg.loss.sparse_links, cfg.loss.uniform, cfg.loss.length,
    )  # fmt: skip
    assert got == table
    assert cfg.dataset == name and cfg.betas == (0.9, 0.999) and cfg.batch_size == 8


def test_config_overrides_and_errors():
    cfg = load_config(
        None, ["model.search.near=5", "model.point_repr=spatial_softmax", "loss.use_uniform=false"]
    )
    assert cfg.model.search.near == 5.0 and cfg.model.point_repr == "spatial_softmax"
    assert cfg.loss.use_uniform is False
    with pytest.raises(ValueError, match=r"loss\.near: no longer an option.*model\.search\.near"):
        load_config(None, ["loss.near=5"])
    with pytest.raises(ValueError, match=r"loss\.nope"):
        load_config(None, ["loss.nope=1"])
    with pytest.raises(ValueError, match="point_repr"):
        load_config(None, ["model.point_repr=xy"])
    with pytest.raises(ValueError, match="steps"):
        load_config(None, ["steps=many"])
    # YAML 1.1 reads 1e-3 as a string; a float key takes it as the number it spells
    assert load_config(None, ["lr=1e-3"]).lr == 0.001
    with pytest.raises(ValueError, match="config lr: expected a number"):
        load_config(None, ["lr=fast"])


def test_plot_detections_writes_a_png(tmp_path):
    from skeleton_perception.training.visualize import plot_detections

    from skeleton_perception.skeleton import Skeleton

    sk = Skeleton(
        joints=np.array([[5, 5], [20, 30]], np.float32),
        joint_ids=np.array([0, 3]),
        joint_scores=np.array([0.9, 0.9], np.float32),
        links=np.array([[0, 1]]),
        link_scores=np.array([0.9], np.float32),
        image_size=(40, 32),
    )
    images = [np.zeros((32, 40, 3), np.uint8)] * 2
    plot_detections(images, [sk, Skeleton.empty((40, 32))], tmp_path / "det.png")
    assert (tmp_path / "det.png").stat().st_size > 0


def test_psi_only_stage_freezes_pi_and_background(tmp_path):
    data = SwingingBar()
    train_mod.train(tiny_config(steps=5), data, tmp_path / "full", progress=False)
    init = tmp_path / "full" / "checkpoint.pt"
    cfg = tiny_config(steps=5, lr=1e-2, train_modules=["psi"], reinit_modules=["psi"])
    train_mod.train(cfg, data, tmp_path / "psi", init=init, progress=False)
    a = load_checkpoint(init)["model"]
    b = load_checkpoint(tmp_path / "psi" / "checkpoint.pt")["model"]
    for k in a:  # π and B (BatchNorm running statistics included) are untouched
        if not k.startswith("psi."):
            torch.testing.assert_close(a[k], b[k], msg=k)
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("psi."))


def test_train_modules_config():
    cfg = load_config(None, ["train_modules=[psi]", "reinit_modules=[psi]"])
    assert cfg.train_modules == ["psi"] and cfg.reinit_modules == ["psi"]
    assert load_config(None).train_modules == ["pi", "psi", "background"]
    with pytest.raises(ValueError, match="train_modules"):
        load_config(None, ["train_modules=[nope]"])
    with pytest.raises(ValueError, match="train_modules"):
        load_config(None, ["train_modules=[]"])
    with pytest.raises(ValueError, match="reinit_modules"):
        load_config(None, ["reinit_modules=[x]"])


def test_psi_stage_config_loads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "training" / "configs"
    cfg = load_config(root / "cartpoles-psi.yaml")
    assert cfg.train_modules == ["psi"] and cfg.reinit_modules == ["psi"]
    assert cfg.loss.link_logit_excess > 0 and cfg.loss.link_logit_bound == 4.0


def test_bf16_autocast_trains_in_float32_weights(tmp_path):
    # precision: bf16 runs the forward under torch.autocast (here the CPU's), the losses,
    # gradients and weights in float32: close to the float32 run, not equal to it.
    data = SwingingBar()
    rows = {}
    for precision in ("fp32", "bf16"):
        cfg = tiny_config(steps=2, device="cpu", precision=precision)
        train_mod.train(cfg, data, tmp_path / precision, progress=False)
        rows[precision] = read_log(tmp_path / precision / "log.csv")[0]
        state = load_checkpoint(tmp_path / precision / "checkpoint.pt")["model"]
        assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    a, b = float(rows["fp32"]["recon"]), float(rows["bf16"]["recon"])
    assert a != b and b == pytest.approx(a, rel=0.05)
    with pytest.raises(ValueError, match="precision"):
        load_config(None, ["precision=fp16"])
