"""Every loss on hand-built maps where the right value is known."""

import math

import pytest
import torch
from skeleton_perception.training.losses import (
    CoverShapes,
    LossConfig,
    compute_losses,
    contiguity_loss,
    cover_loss,
    foreground_errors,
    length_loss,
    link_coverage,
    near_closeness,
    near_loss,
    neighbour_matrix,
    occupancy,
    recon_loss,
    relaxed_max,
    segment_distance,
    sparse_loss,
    thick_parts,
    uniform_loss,
)

from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.nn.skeleton_net import pairs_to_matrix
from skeleton_perception.nn.structure_search import SearchConfig


def one_hot(xy, h=32, w=32):
    """list of (x, y) -> (1, P, H, W) one-hot maps and (1, P, 2) xy."""
    maps = torch.zeros(1, len(xy), h, w)
    for p, (x, y) in enumerate(xy):
        maps[0, p, y, x] = 1.0
    return maps, torch.tensor([xy], dtype=torch.float32)


def matrix(P, links):
    """{(i, j): value} -> (1, P, P) symmetric S."""
    S = torch.zeros(1, P, P)
    for (i, j), v in links.items():
        S[0, i, j] = S[0, j, i] = v
    return S


def test_recon_loss_pyramid():
    x = torch.rand(2, 3, 32, 32)
    assert recon_loss(x, x) == 0
    # a constant offset survives every average-pool level: 5 levels x 0.1^2
    torch.testing.assert_close(recon_loss(x + 0.1, x, levels=5), torch.tensor(5 * 0.01))
    # a checkerboard error vanishes after the first 2x2 pooling
    cb = (torch.arange(32)[:, None] + torch.arange(32)[None]) % 2 * 0.2 - 0.1
    torch.testing.assert_close(recon_loss(x + cb, x, levels=5), torch.tensor(0.01))


def test_neighbour_matrix_and_contiguity():
    # points 0 and 1 are 3 px apart (neighbours for kernel 7), point 2 is far away
    maps_s, _ = one_hot([(5, 5), (8, 5), (25, 25)])
    N = neighbour_matrix(maps_s, kernel=7, stride=1)[0]
    assert N[0, 1] == 1 and N[1, 0] == 1 and N[0, 2] == 0 and N[1, 2] == 0
    assert N[0, 0] == 1
    assert neighbour_matrix(one_hot([(5, 5), (12, 5)])[0], 7)[0, 0, 1] == 0  # 7 px: no
    assert neighbour_matrix(one_hot([(5, 5), (11, 5)])[0], 7)[0, 0, 1] == 1  # 6 px: yes
    # in the target 0 and 1 are still neighbours: -(1 + 1 + 0) / 3
    maps_t, _ = one_hot([(20, 10), (22, 12), (2, 28)])
    loss = contiguity_loss(N[None], neighbour_matrix(maps_t, 7)[0][None])
    torch.testing.assert_close(loss, torch.tensor(-2 / 3))
    # when they separate in the target, nobody keeps a neighbour
    maps_t2, _ = one_hot([(2, 2), (28, 28), (2, 28)])
    assert contiguity_loss(N[None], neighbour_matrix(maps_t2, 7)) == 0
    # the strided version agrees on clear cases
    assert neighbour_matrix(maps_s, 7, stride=2)[0, 0, 1] == 1
    assert neighbour_matrix(maps_s, 7, stride=2)[0, 0, 2] == 0


def test_segment_distance_known_values():
    a = torch.tensor([[[0.0, 0.0]]])
    b = torch.tensor([[[10.0, 0.0]]])
    p = torch.tensor([[[5.0, 0.0], [5.0, 3.0], [-4.0, 3.0], [13.0, 4.0]]])
    d = segment_distance(p, a, b)[0, :, 0]
    torch.testing.assert_close(d, torch.tensor([0.0, 3.0, 5.0, 5.0]))
    # degenerate segment: distance to the point
    torch.testing.assert_close(segment_distance(p[:, :1], a, a)[0, 0, 0], torch.tensor(5.0))


def test_relaxed_max_forward_is_max_and_every_entry_gets_gradient():
    x = torch.tensor([[0.1, 0.7, 0.5]], requires_grad=True)
    y = relaxed_max(x, temperature=0.1)
    torch.testing.assert_close(y, torch.tensor([0.7]))
    y.sum().backward()
    assert torch.all(x.grad != 0)


def test_near_point_exactly_on_a_link_has_distance_zero():
    # points 0 and 1 are the link's end points; 2 lies exactly on it; 3 is 3 px off it
    maps, xy = one_hot([(4, 10), (20, 10), (12, 10), (12, 13)])
    close = near_closeness(maps, xy, topk=1, scale=1.0)  # (1, P, E), E = 6
    e01 = 0  # pair (0, 1) is the first in triu order
    torch.testing.assert_close(close[0, :, e01], torch.tensor([1.0, 1.0, 1.0, math.exp(-3.0)]))
    S = matrix(4, {(0, 1): 1.0})
    expected = -(1 + 1 + 1 + math.exp(-3.0)) / 4
    torch.testing.assert_close(near_loss(S, close), torch.tensor(expected))
    # without the link nothing is explained
    assert near_loss(matrix(4, {}), close) == 0


def test_near_expectation_over_the_point_map():
    # point 2 split half/half between a pixel on the link and one 2 px off it
    maps, xy = one_hot([(4, 10), (20, 10), (12, 10)])
    maps[0, 2, 10, 12] = 0.5
    maps[0, 2, 12, 12] = 0.5
    close = near_closeness(maps, xy, topk=2, scale=1.0)
    torch.testing.assert_close(close[0, 2, 0], torch.tensor(0.5 + 0.5 * math.exp(-2.0)))


def test_near_gradient_reaches_s_and_the_maps():
    maps, xy = one_hot([(4, 10), (20, 10), (12, 12)])
    maps = (maps * 0.9 + 0.1 / maps[0, 0].numel()).requires_grad_()
    S = matrix(3, {(0, 1): 0.6, (0, 2): 0.3, (1, 2): 0.2}).requires_grad_()
    near_loss(S, near_closeness(maps, xy, topk=4)).backward()
    assert S.grad[0, 0, 1] < 0  # more of the link that explains points lowers the loss
    assert maps.grad.abs().sum() > 0


def test_sparse_loss_power_means():
    S = matrix(3, {(0, 1): 1.0})
    links, joints = sparse_loss(S, p=0.5)
    # links: mean of S^p over 3 pairs = 1/3 -> ^(1/p) = 1/9; joints: 2 of 3 -> (2/3)^2
    torch.testing.assert_close(links, torch.tensor(1 / 9), atol=1e-3, rtol=0)
    torch.testing.assert_close(joints, torch.tensor(4 / 9), atol=1e-3, rtol=0)
    # denser graphs cost more links but the same number of joints
    links2, joints2 = sparse_loss(matrix(3, {(0, 1): 1.0, (1, 2): 1.0, (0, 2): 1.0}))
    assert links2 > links and torch.isclose(joints2, torch.tensor(1.0))


def test_uniform_coverage_full_and_with_a_gap():
    H = W = 40
    # points every 3 px from x=5 to x=35 on y=20: fully covered segment 0-1
    line = [(5, 20), (35, 20)] + [(x, 20) for x in range(8, 35, 3)]
    _, xy = one_hot(line, H, W)
    occ = occupancy(xy, H, W, kernel=5)
    delta = link_coverage(occ, xy, samples=32)
    assert delta[0, 0] == 1.0  # pair (0, 1)
    # the same link with a gap of 15 px in the middle
    gapped = [(5, 20), (35, 20)] + [(x, 20) for x in (8, 11, 26, 29, 32)]
    _, xyg = one_hot(gapped, H, W)
    delta_g = link_coverage(occupancy(xyg, H, W, 5), xyg, samples=32)
    assert 0.4 < delta_g[0, 0] < 0.8
    # ℓ_uniform: S on the gapped link counts, S on covered pairs does not
    P = len(gapped)
    S = matrix(P, {(0, 1): 0.9})
    loss = uniform_loss(S, delta_g, alpha=0.8)
    n_gaps = (delta_g < 0.8).sum()
    torch.testing.assert_close(loss, 0.9 / n_gaps)
    assert uniform_loss(matrix(len(line), {(0, 1): 0.9}), delta, alpha=0.8) == 0


def test_length_loss_hinges():
    xy = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [60.0, 0.0]]])
    S = matrix(3, {(0, 1): 1.0, (0, 2): 0.5, (1, 2): 0.0})
    # size 64: lengths 2/64 (< lmin 0.1 by 0.06875), 60/64 (> lmax 0.5 by 0.4375)
    expected = (1.0 * (0.1 - 2 / 64) + 0.5 * (60 / 64 - 0.5)) / 3
    torch.testing.assert_close(length_loss(S, xy, 64, 0.1, 0.5), torch.tensor(expected))


@pytest.mark.parametrize("repr_", ["categorical", "spatial_softmax"])
def test_compute_losses_total_and_gradients(repr_):
    torch.manual_seed(0)
    model = SkeletonModel(
        ModelConfig(num_points=6, unet_width=4, psi_width=4, bg_width=4, point_repr=repr_)
    )
    s, t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    out = model(s, t)
    parts = compute_losses(out, t, LossConfig(), ramp=0.5)
    assert set(parts) >= {
        "total",
        "recon",
        "contiguity",
        "near",
        "sparse_links",
        "uniform",
        "length",
    }
    assert all(torch.isfinite(v) for v in parts.values())
    parts["total"].backward()
    for name in ("pi", "psi", "background"):
        assert any(
            p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, name).parameters()
        )
    ablated = compute_losses(model(s, t), t, LossConfig(use_uniform=False, use_sparse=False))
    assert "uniform" not in ablated and "sparse_links" not in ablated


def test_link_logit_penalty_is_optional():
    torch.manual_seed(0)
    model = SkeletonModel(ModelConfig(num_points=4, unet_width=4, psi_width=4, bg_width=4))
    s, t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    out = model(s, t)
    assert "link_logit_l2" not in compute_losses(out, t, LossConfig())
    parts = compute_losses(out, t, LossConfig(link_logit_l2=0.01))
    expected = out["link_logits"].square().sum(-1).mean()
    torch.testing.assert_close(parts["link_logit_l2"], expected)


def test_foreground_errors_separate_points_from_background():
    source = torch.zeros(1, 3, 16, 16)
    target = torch.zeros(1, 3, 16, 16)
    target[..., 4:8, 4:8] = 1.0  # the object moved here
    background = torch.zeros_like(target)
    err_points, err_bg = foreground_errors(source, target, target.clone(), background)
    assert err_points == 0 and err_bg == 1.0
    assert pairs_to_matrix(torch.ones(1, 1), 2).shape == (1, 2, 2)


def test_logit_excess_is_zero_inside_the_bound():
    from skeleton_perception.training.losses import logit_excess

    z = torch.tensor([[0.0, 3.9, -4.0, 5.0, -6.0]], requires_grad=True)
    loss = logit_excess(z, 4.0)
    assert loss.item() == pytest.approx(1.0 + 4.0)
    loss.backward()
    assert z.grad.tolist() == [[0.0, 0.0, 0.0, 2.0, -4.0]]


def test_searched_skeleton_term_trains_the_points_only():
    torch.manual_seed(0)
    model = SkeletonModel(ModelConfig(num_points=6, unet_width=4, psi_width=4, bg_width=4))
    s, t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    assert "points_near" not in compute_losses(model(s, t), t, LossConfig())  # off by default
    only = LossConfig(
        recon=0, contiguity=0, length=0, use_sparse=False, use_uniform=False,
        points_near=1.0, points_length=1.0,
    )  # fmt: skip
    out = model(s, t)
    free = SearchConfig(sparse_joints=0.0, uniform=0.0)  # random points: links cost nothing
    parts = compute_losses(out, t, only, structure=free)
    assert -2.0 <= float(parts["points_near"]) <= 0.0  # two frames, closeness in [0, 1]
    assert float(parts["points_links"]) > 0  # the search found a skeleton to pull towards
    searched = parts["points_near"] + parts["points_length"]
    torch.testing.assert_close(parts["total"], free.near * parts["near"] + searched)
    searched.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.pi.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.psi.parameters())


def test_cover_loss_moves_a_link_to_the_ends_of_a_bar():
    fg = torch.zeros(1, 64, 64, dtype=torch.bool)
    fg[0, 10:51, 31:34] = True  # a vertical bar, 3 px wide, rows 10-50
    xy = torch.tensor([[[32.0, 20.0], [32.0, 40.0]]], requires_grad=True)
    S = matrix(2, {(0, 1): 1.0})
    inside = cover_loss(S, xy.detach(), fg, 1.5)
    ends = cover_loss(S, torch.tensor([[[32.0, 11.0], [32.0, 49.0]]]), fg, 1.5)
    off = cover_loss(S, torch.tensor([[[10.0, 11.0], [10.0, 49.0]]]), fg, 1.5)
    assert ends < inside < off  # the whole bar drawn beats half of it beats none of it
    optimiser = torch.optim.Adam([xy], lr=0.5)
    for _ in range(200):
        optimiser.zero_grad()
        cover_loss(S, xy, fg, 1.5).backward()
        optimiser.step()
    assert abs(xy[0, 0, 1].item() - 10.0) < 3 and abs(xy[0, 1, 1].item() - 50.0) < 3
    assert torch.all((xy[0, :, 0] - 32.0).abs() < 1)
    nothing = cover_loss(matrix(2, {}), xy.detach(), fg, 1.5)
    assert ends < nothing < off  # a tube beside the bar is worse than none


def test_cover_shapes_start_as_the_plain_tubes_and_grow_a_blob_over_a_box():
    fg = torch.zeros(1, 64, 64, dtype=torch.bool)
    fg[0, 10:21, 20:45] = True  # a cart: a box 25 x 11 px
    fg[0, 20:51, 31:34] = True  # a pole hanging from its centre, rows 20-50
    xy = torch.tensor([[[32.0, 15.0], [32.0, 50.0]]])  # the hinge in the box, the tip
    S = matrix(2, {(0, 1): 1.0})
    shapes = CoverShapes(num_points=2, sigma=1.5)
    plain = cover_loss(S, xy, fg, 1.5)
    torch.testing.assert_close(cover_loss(S, xy, fg, 1.5, shapes), plain, rtol=0.01, atol=0)
    optimiser = torch.optim.Adam(shapes.parameters(), lr=0.01)
    for _ in range(100):
        optimiser.zero_grad()
        cover_loss(S, xy, fg, 1.5, shapes).backward()
        optimiser.step()
    sizes = shapes.blob_sizes().detach()  # (2, 2) px
    assert 9 < sizes[0, 0] < 14 and 4 < sizes[0, 1] < 7  # the hinge's blob: the box's half-sizes
    assert sizes[1].max() < 1.5  # the tip's shrinks: nothing to cover around it
    assert cover_loss(S, xy, fg, 1.5, shapes) < plain / 5


def test_thick_parts_keep_the_cart_and_drop_the_pole_from_the_cover_loss():
    fg = torch.zeros(1, 64, 64, dtype=torch.bool)
    fg[0, 10:21, 20:45] = True  # a cart: a box 25 x 11 px
    fg[0, 20:51, 31:34] = True  # a pole 3 px wide hanging from it
    thick = thick_parts(fg, 2)
    assert thick[0, 10:21, 20:45].all() and not thick[0, 23:].any()  # the box, not the pole
    assert thick.sum() == 13 * 27  # the box grown by one pixel
    S = matrix(3, {(0, 1): 1.0, (0, 2): 1.0})  # the hinge linked to the tip and a third point
    spare = torch.tensor([[[32.0, 15.0], [32.0, 50.0], [32.0, 30.0]]])  # the third on the pole
    corner = torch.tensor([[[32.0, 15.0], [32.0, 50.0], [21.0, 11.0]]])  # on the box's corner
    counted = cover_loss(S, spare, fg, 1.5) - cover_loss(S, corner, fg, 1.5)
    left_out = cover_loss(S, spare, fg, 1.5, ignore=thick) - cover_loss(
        S, corner, fg, 1.5, ignore=thick
    )
    assert counted > 0.02  # with the box counted, the corner pulls the spare point
    assert abs(left_out) < counted / 10  # left out, nothing does


def test_cover_term_uses_the_fixed_tree_and_trains_the_points_only():
    torch.manual_seed(0)
    model = SkeletonModel(ModelConfig(num_points=6, unet_width=4, psi_width=4, bg_width=4))
    s, t = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    only = LossConfig(
        recon=0, contiguity=0, length=0, use_sparse=False, use_uniform=False,
        points_cover=1.0, cover_threshold=0.0,
    )  # fmt: skip
    parts = compute_losses(model(s, t), t, only, joint_ids=[0, 2, 5])
    assert float(parts["points_links"]) == 2.0  # a spanning tree over the 3 fixed joints
    near = SearchConfig().near * parts["near"]  # ℓ_near's one weight, model.search.near
    torch.testing.assert_close(parts["total"], near + parts["points_cover"])
    parts["points_cover"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.pi.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.psi.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.background.parameters())
