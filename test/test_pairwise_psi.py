"""The pairwise ψ head: symmetric, permutation-equivariant, image-dependent, trainable."""

import pytest
import torch
from skeleton_perception.training import train as train_mod

from skeleton_perception.checkpoint import CheckpointError, load_checkpoint
from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.nn.pairwise_psi import PairwiseSkeletonNet

TINY = dict(num_points=6, unet_width=4, psi_width=4, bg_width=4, bg_latent=8)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def random_inputs(b=2, p=6, size=64):
    image = torch.rand(b, 3, size, size) - 0.5
    heat = torch.rand(b, p, size, size)
    xy = torch.rand(b, p, 2) * (size - 1)
    return image, heat, xy


def test_s_is_symmetric_with_an_empty_diagonal_and_in_range():
    net = PairwiseSkeletonNet(6, width=8, hidden=16).eval()
    S = net.probabilities(net.logits(*random_inputs()))
    assert S.shape == (2, 6, 6)
    torch.testing.assert_close(S, S.transpose(1, 2))
    assert torch.all(torch.diagonal(S, dim1=1, dim2=2) == 0)
    c = torch.sigmoid(torch.tensor(4.0))
    off = S[:, ~torch.eye(6, dtype=torch.bool)]
    assert off.min() >= 1 - c - 1e-6 and off.max() <= c + 1e-6


def test_renumbering_the_points_renumbers_s():
    """The head cannot learn a graph over point ids: permuting the points permutes S."""
    net = PairwiseSkeletonNet(6, width=8, hidden=16).eval()
    image, heat, xy = random_inputs()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    S = net.probabilities(net.logits(image, heat, xy))
    S_perm = net.probabilities(net.logits(image, heat[:, perm], xy[:, perm]))
    torch.testing.assert_close(S_perm, S[:, perm][:, :, perm])


def test_s_depends_on_the_image_and_on_where_the_points_are():
    net = PairwiseSkeletonNet(6, width=8, hidden=16).eval()
    image, heat, xy = random_inputs()
    z = net.logits(image, heat, xy)
    assert not torch.allclose(z, net.logits(torch.rand_like(image) - 0.5, heat, xy))
    assert not torch.allclose(z, net.logits(image, heat, xy.flip(-1)))


def test_gradient_reaches_every_parameter():
    net = PairwiseSkeletonNet(6, width=8, hidden=16)
    net.logits(*random_inputs()).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_samples_must_include_an_interior():
    with pytest.raises(ValueError, match="samples"):
        PairwiseSkeletonNet(6, samples=2)


def test_model_uses_the_pairwise_head_in_training_and_prediction():
    model = SkeletonModel(ModelConfig(psi_head="pairwise", **TINY))
    assert isinstance(model.psi, PairwiseSkeletonNet)
    s, t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    out = model(s, t)
    assert out["S"].shape == (2, 6, 6) and out["link_logits"].shape == (2, 15)
    model.eval()
    xy, S = model.predict(s)
    assert xy.shape == (2, 6, 2) and S.shape == (2, 6, 6)
    torch.testing.assert_close(S, S.transpose(1, 2))


def test_unknown_psi_head_is_rejected():
    with pytest.raises(ValueError, match="psi_head"):
        ModelConfig(psi_head="transformer")


def test_a_conv_checkpoint_initialises_a_pairwise_psi_stage(tmp_path):
    """--init with another ψ architecture: π and B come from the checkpoint, ψ is fresh."""
    from test_train import SwingingBar, tiny_config

    data = SwingingBar()
    train_mod.train(tiny_config(steps=5), data, tmp_path / "conv", progress=False)
    init = tmp_path / "conv" / "checkpoint.pt"
    cfg = tiny_config(steps=5, lr=1e-2, train_modules=["psi"], reinit_modules=["psi"])
    cfg.model.psi_head = "pairwise"
    train_mod.train(cfg, data, tmp_path / "pw", init=init, progress=False)
    a = load_checkpoint(init)["model"]
    b = load_checkpoint(tmp_path / "pw" / "checkpoint.pt")
    assert b["config"]["model"]["psi_head"] == "pairwise"
    for k in a:
        if not k.startswith("psi."):
            torch.testing.assert_close(a[k], b["model"][k], msg=k)
    assert any(k.startswith("psi.trunk.") for k in b["model"])
    # without re-initialising ψ the weights do not fit: one clear error naming the file
    cfg = tiny_config(steps=5)
    cfg.model.psi_head = "pairwise"
    with pytest.raises(CheckpointError, match=r"conv/checkpoint\.pt"):
        train_mod.train(cfg, data, tmp_path / "bad", init=init, progress=False)
