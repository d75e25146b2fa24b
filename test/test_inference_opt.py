"""The inference-only model copy (skeleton_perception.nn.inference) computes what the plain
model computes, and the detector's faster pre/post-processing returns what it did before."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from detector_fixtures import randomise_batchnorm
from torch import nn

from skeleton_perception import SkeletonDetector
from skeleton_perception.detector import DEFAULT_WEIGHTS, skeleton_from_prediction
from skeleton_perception.nn.inference import (
    Folded,
    PackedConv2d,
    count_modules,
    fold_batchnorm,
    optimize_for_inference,
    pack_convolutions,
    packing_available,
    record_conv_inputs,
)
from skeleton_perception.nn.model import ModelConfig, SkeletonModel
from skeleton_perception.nodes.conversions import to_rgb
from skeleton_perception.preprocess import Letterbox, to_tensor_layout

FRAMES = Path(__file__).with_name("fixtures") / "sim_frames.npz"
needs_packing = pytest.mark.skipif(not packing_available(), reason="no oneDNN in this torch")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One PyTorch thread, as the node runs (and fast on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv_stack() -> nn.Sequential:
    """Convolutions of several kinds, each followed by BatchNorm and an activation."""
    torch.manual_seed(0)
    return randomise_batchnorm(
        nn.Sequential(
            nn.Conv2d(5, 8, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(8, 8, 3, padding=2, dilation=2),
            nn.BatchNorm2d(8, affine=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, padding=1, groups=4),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2),
            nn.ReLU(),  # after a pool: not fused
            nn.Conv2d(16, 4, 1),
        )
    )


def test_fold_batchnorm_keeps_outputs_and_removes_the_batchnorms():
    net = conv_stack()
    x = torch.randn(2, 5, 24, 20)
    ref = net(x)
    folded = copy.deepcopy(net)
    assert fold_batchnorm(folded) == 3
    assert count_modules(folded, nn.BatchNorm2d) == 0
    assert len(folded) == len(net)  # replaced by Identity: indices unchanged
    torch.testing.assert_close(folded(x), ref, atol=1e-5, rtol=1e-5)
    assert folded[3].bias is not None and folded[0].bias is not None  # biases added
    assert count_modules(net, nn.BatchNorm2d) == 3  # the original is untouched


def test_fold_batchnorm_other_dimensions_and_what_it_leaves():
    torch.manual_seed(1)
    net = randomise_batchnorm(
        nn.Sequential(
            nn.Conv1d(3, 6, 5, padding=2),
            nn.BatchNorm1d(6),
            nn.Linear(10, 10),  # Linear + BatchNorm1d: not a convolution
            nn.BatchNorm1d(6),
            nn.Conv1d(6, 6, 1),
            nn.BatchNorm1d(6, track_running_stats=False),  # batch statistics: not foldable
        )
    )
    x = torch.randn(4, 3, 10)
    ref = net(x)
    assert fold_batchnorm(net) == 1
    assert count_modules(net, nn.BatchNorm1d) == 2
    torch.testing.assert_close(net(x), ref, atol=1e-5, rtol=1e-5)
    deconv = randomise_batchnorm(nn.Sequential(nn.ConvTranspose2d(3, 3, 2), nn.BatchNorm2d(3)))
    assert fold_batchnorm(deconv) == 0


@needs_packing
def test_packed_convolutions_fuse_activations_and_keep_outputs():
    net = conv_stack()
    fold_batchnorm(net)
    plain = copy.deepcopy(net)
    x = torch.randn(2, 5, 24, 20)
    with torch.inference_mode():
        ref = net(x)
    assert pack_convolutions(net) == 4
    assert count_modules(net, PackedConv2d) == 4 and count_modules(net, nn.Conv2d) == 0
    assert [net[0].attr, net[3].attr, net[6].attr, net[10].attr] == [
        "leaky_relu",
        "relu",
        "none",  # followed by a pool
        "none",
    ]
    assert net[0].scalars == [0.2]
    assert isinstance(net[2], nn.Identity) and isinstance(net[5], nn.Identity)
    assert isinstance(net[9], nn.ReLU)
    with torch.inference_mode():
        out = net(x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # other batch and image sizes than the ones it was checked on
    x2 = torch.randn(5, 5, 33, 17)
    with torch.inference_mode():
        torch.testing.assert_close(net(x2), plain(x2), atol=1e-5, rtol=1e-5)


class Custom(nn.Module):
    """Convolutions that are attributes, not in a Sequential."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)  # not in a Sequential: not folded
        self.unused = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


@needs_packing
def test_packing_outside_sequentials_and_only_what_runs():
    net = randomise_batchnorm(Custom())
    x = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        ref = net(x)
    fast = optimize_for_inference(net, lambda m: m(x))
    assert isinstance(fast.conv, PackedConv2d) and fast.conv.attr == "none"
    assert type(fast.unused) is nn.Conv2d  # never called by the example: left alone
    assert isinstance(fast.bn, nn.BatchNorm2d)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), ref, atol=1e-5, rtol=1e-5)
    everything = optimize_for_inference(net)  # no example: every convolution
    assert count_modules(everything, PackedConv2d) == 2
    assert isinstance(net.conv, nn.Conv2d) and net.conv.weight.requires_grad  # untouched


@needs_packing
def test_packed_convolution_falls_back_where_onednn_does_not_apply():
    net = conv_stack()
    fold_batchnorm(net)
    plain = copy.deepcopy(net)
    pack_convolutions(net)
    conv = net[0]
    x = torch.randn(1, 5, 16, 16, requires_grad=True)
    y = conv(x)  # needs gradients: the plain computation
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close(y, plain[2](plain[0](x)), atol=1e-6, rtol=1e-6)
    x64 = torch.randn(1, 5, 16, 16, dtype=torch.float64)
    conv64 = copy.deepcopy(conv).double()  # the packed weight stays float32, unused
    ref64 = plain[2](copy.deepcopy(plain[0]).double()(x64))
    torch.testing.assert_close(conv64(x64), ref64)
    # a deep copy repacks its weight and computes the same
    clone = copy.deepcopy(net)
    with torch.inference_mode():
        torch.testing.assert_close(clone(x.detach()), net(x.detach()))


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
class IndexesItsLayers(nn.Module):
    """Calls the layers of its Sequential by position (placeholders must stay)."""

    def __init__(self):
        super().__init__()
        self.body = conv_stack()

    def forward(self, x):
        first = self.body[:3](x)  # conv, BatchNorm, LeakyReLU: a feature tap
        return self.body[3:](first), first


class OwnForward(nn.Sequential):
    """A Sequential subclass with a forward of its own."""

    def forward(self, x):
        return self[1](self[0](x)) * 2


def test_placeholders_are_dropped_only_where_that_is_safe():
    net = nn.Sequential(
        conv_stack(), randomise_batchnorm(OwnForward(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    )
    x = torch.randn(1, 5, 20, 20)
    with torch.inference_mode():
        ref = net(x)
    fast = optimize_for_inference(net, lambda m: m(x))
    assert count_modules(fast, Folded) == 1  # only inside OwnForward
    assert len(fast[1]) == 2 and len(fast[0]) < len(net[0])
    indexing = IndexesItsLayers()
    with torch.inference_mode():
        ref2 = indexing(x)
    fast2 = optimize_for_inference(indexing, lambda m: m(x))
    assert len(fast2.body) == len(indexing.body)  # positions kept: the example needs them
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), ref, atol=1e-5, rtol=1e-5)
        for a, b in zip(fast2(x), ref2, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_without_onednn_only_batchnorm_is_folded():
    net = conv_stack()
    with torch.backends.mkldnn.flags(enabled=False):
        assert not packing_available()
        fast = optimize_for_inference(net)
    assert count_modules(fast, PackedConv2d) == 0 and count_modules(fast, nn.BatchNorm2d) == 0


@pytest.mark.parametrize("point_repr", ["categorical", "spatial_softmax"])
def test_optimised_skeleton_model_predicts_the_same(point_repr):
    torch.manual_seed(0)
    model = randomise_batchnorm(SkeletonModel(ModelConfig(point_repr=point_repr)))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 64, 64, generator=g)
    fast = optimize_for_inference(model, lambda m: m.predict(x[:1]))
    assert count_modules(fast, nn.BatchNorm2d) < count_modules(model, nn.BatchNorm2d)
    if packing_available():
        used = record_conv_inputs(copy.deepcopy(model), lambda m: m.predict(x[:1]))
        assert count_modules(fast, PackedConv2d) == len(used) > 0
    with torch.inference_mode():
        xy0, S0 = model.predict(x)
        xy1, S1 = fast.predict(x)
    torch.testing.assert_close(xy1, xy0, atol=1e-4, rtol=0)
    torch.testing.assert_close(S1, S0, atol=1e-5, rtol=0)
    assert model.pi.inc[1].__class__ is nn.BatchNorm2d  # the original keeps its layers


@pytest.fixture(scope="module", params=[None, "psi"], ids=["checkpoint-structure", "psi"])
def shipped_pair(request):
    """The shipped model as loaded and optimised (S as the checkpoint says, and by ψ)."""
    assert DEFAULT_WEIGHTS.is_file()
    kw = {} if request.param is None else {"structure": request.param}
    return (
        SkeletonDetector.from_checkpoint(None, device="cpu", optimize=False, **kw),
        SkeletonDetector.from_checkpoint(None, device="cpu", **kw),
    )


def test_shipped_model_optimised_detector_gives_the_same_skeletons(shipped_pair):
    plain, fast = shipped_pair
    assert fast.inference_model is not fast.model and plain.inference_model is plain.model
    if packing_available():
        assert count_modules(fast.inference_model, PackedConv2d) > 0
    assert count_modules(fast.inference_model, Folded) == 0  # placeholders dropped
    images = list(np.load(FRAMES)["images"])
    rng = np.random.default_rng(0)
    images += [
        rng.integers(0, 256, (480, 640, 3), np.uint8),
        np.kron(images[0], np.ones((3, 2, 1), np.uint8)),
    ]
    for a, b in zip(plain.predict_batch(images), fast.predict_batch(images), strict=True):
        np.testing.assert_allclose(b.points, a.points, atol=1e-4 * max(a.image_size) / 64)
        np.testing.assert_allclose(b.connectivity, a.connectivity, atol=1e-5)
        np.testing.assert_array_equal(b.joint_ids, a.joint_ids)
        np.testing.assert_array_equal(b.links, a.links)
        np.testing.assert_allclose(b.joint_scores, a.joint_scores, atol=1e-5)
    # one image at a time (the node's case) equals the batch
    one = fast(images[-2])
    np.testing.assert_allclose(one.points, fast.predict_batch(images[-2:])[0].points, atol=1e-3)


def reference_skeleton_from_prediction(xy, S, letterbox, link_threshold, min_joint_score):
    """The straightforward version (np.maximum.at, np.unique) the detector used before."""
    P = S.shape[0]
    points = letterbox.to_input_pixels(xy)
    S = S.astype(np.float32)
    iu, ju = np.triu_indices(P, k=1)
    keep = S[iu, ju] > link_threshold
    iu, ju = iu[keep], ju[keep]
    score = np.zeros(P, np.float32)
    np.maximum.at(score, iu, S[iu, ju])
    np.maximum.at(score, ju, S[iu, ju])
    ok = score >= min_joint_score
    both = ok[iu] & ok[ju]
    iu, ju = iu[both], ju[both]
    ids = np.unique(np.concatenate([iu, ju])).astype(np.int64)
    row = np.full(P, -1, np.int64)
    row[ids] = np.arange(len(ids))
    return points[ids], ids, score[ids], np.stack([row[iu], row[ju]], 1), S[iu, ju]


@pytest.mark.parametrize("P", [1, 2, 5, 32])
@pytest.mark.parametrize(
    ("threshold", "min_score"), [(0.5, 0.0), (0.2, 0.7), (0.0, 0.0), (0.99, 0.5)]
)
def test_skeleton_from_prediction_matches_the_reference(P, threshold, min_score):
    rng = np.random.default_rng(P)
    S = rng.random((P, P)).astype(np.float32)
    S = np.triu(S, 1) + np.triu(S, 1).T
    xy = rng.random((P, 2)).astype(np.float32) * 63
    box = Letterbox.fit(320, 200, 64)
    sk = skeleton_from_prediction(xy, S, box, threshold, min_score)
    joints, ids, scores, links, link_scores = reference_skeleton_from_prediction(
        xy, S, box, threshold, min_score
    )
    np.testing.assert_array_equal(sk.joint_ids, ids)
    np.testing.assert_array_equal(sk.joints, joints)
    np.testing.assert_array_equal(sk.joint_scores, scores)
    np.testing.assert_array_equal(sk.links, links.reshape(-1, 2))
    np.testing.assert_array_equal(sk.link_scores, link_scores)
    assert sk.connectivity is not S and np.array_equal(sk.connectivity, S)


def test_to_tensor_layout_is_unchanged_and_writes_in_place():
    image = np.random.default_rng(0).integers(0, 256, (64, 48, 3), np.uint8)
    before = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(to_tensor_layout(image), before)
    batch = np.zeros((2, 3, 64, 48), np.float32)
    assert np.shares_memory(to_tensor_layout(image, out=batch[1]), batch)
    np.testing.assert_array_equal(batch[1], before)
    assert not batch[0].any()


def test_to_rgb_without_copy_passes_rgb8_through():
    pixels = np.zeros((4, 5, 3), np.uint8)
    assert to_rgb(pixels, "rgb8", copy=False) is pixels
    assert to_rgb(pixels, "rgb8") is not pixels
    bgr = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    np.testing.assert_array_equal(to_rgb(bgr, "bgr8", copy=False), bgr[..., ::-1])


def test_detector_reads_a_row_padded_view_like_a_copy(shipped_pair):
    _, fast = shipped_pair
    rng = np.random.default_rng(3)
    for w, h in [(64, 32), (160, 120)]:
        rows = rng.integers(0, 256, (h, w * 3 + 8), np.uint8)  # step = 3w + 8, as on the wire
        view = rows[:, : w * 3].reshape(h, w, 3)
        assert not view.flags["C_CONTIGUOUS"]
        a, b = fast(view), fast(np.ascontiguousarray(view))
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.connectivity, b.connectivity)
