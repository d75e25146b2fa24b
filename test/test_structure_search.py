"""Structure by search: the greedy minimiser of the skeleton losses, on known optima."""

import pytest
import torch

from skeleton_perception.nn import ModelConfig, SkeletonModel
from skeleton_perception.nn.structure_search import SearchConfig, search_skeleton

# three points on a horizontal bar and one far below it
BAR = torch.tensor([[[10.0, 32.0], [20.0, 32.0], [30.0, 32.0], [20.0, 60.0]]])


def links(S):
    i, j = torch.triu_indices(S.shape[-1], S.shape[-1], 1)
    return {(int(a), int(b)) for a, b in zip(i, j, strict=True) if S[0, a, b] > 0}


def cfg(**kw):
    base = dict(near=20.0, near_scale=2.0, sparse_joints=50.0, sparse_links=0.0, count_power=2.0,
                uniform=0.0, length=0.0, length_min=0.0, length_max=1.0)  # fmt: skip
    return SearchConfig(**{**base, **kw})


def test_one_link_along_the_bar_covers_its_middle_point():
    S = search_skeleton([BAR], 64, cfg())
    torch.testing.assert_close(S, S.transpose(1, 2))
    # the end-to-end link explains all three bar points with 2 joints; the far point
    # is not worth a link of its own at this joint cost
    assert links(S) == {(0, 2)}


def test_linear_joint_cost_charges_every_joint_the_same():
    # q = 1: a 2-joint link costs 2 w / P whatever the graph; the bar link is worth it
    # (gain 20 * 3/4 = 15 > 2 * 28 / 4 = 14) and the far point's link is not
    found = links(search_skeleton([BAR], 64, cfg(count_power=1.0, sparse_joints=28.0)))
    assert found == {(0, 2)}
    assert links(search_skeleton([BAR], 64, cfg(count_power=1.0, sparse_joints=31.0))) == set()


def test_no_near_reward_gives_an_empty_graph():
    assert links(search_skeleton([BAR], 64, cfg(near=0.0))) == set()


def test_cheap_joints_also_link_the_far_point():
    found = links(search_skeleton([BAR], 64, cfg(sparse_joints=0.1)))
    assert (0, 2) in found and any(3 in e for e in found) and len(found) == 2


def test_max_links_and_batches():
    xy = torch.cat([BAR, BAR.flip(1)])  # the same points in another order
    S = search_skeleton([xy], 64, cfg(sparse_joints=0.1, max_links=1))
    assert S.shape == (2, 4, 4) and torch.all(S.sum((1, 2)) == 2)


def test_model_predicts_by_search_when_configured(tmp_path):
    from skeleton_perception import SkeletonDetector
    from skeleton_perception.checkpoint import build_model_from_checkpoint, save_checkpoint

    torch.manual_seed(0)
    cfg = ModelConfig(num_points=6, unet_width=4, psi_width=4, bg_width=4, structure="search")
    model = SkeletonModel(cfg).eval()
    xy, S = model.predict(torch.rand(2, 3, 64, 64))
    assert set(S.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(S, search_skeleton([xy], 64, cfg.search))
    # the choice and the search weights travel in the checkpoint (nested config) ...
    path = tmp_path / "m.pt"
    save_checkpoint(path, model.state_dict(), {"model": cfg.to_dict()}, 0)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["config"]["model"]["search"]["sparse_joints"] == cfg.search.sparse_joints
    assert build_model_from_checkpoint(ckpt, path).cfg.structure == "search"
    # ... and can be overridden when loading
    det = SkeletonDetector.from_checkpoint(path, device="cpu", structure="psi")
    assert det.model.cfg.structure == "psi"


def test_bad_structure_settings_are_rejected():
    with pytest.raises(ValueError, match="structure"):
        ModelConfig(structure="oracle")
    with pytest.raises(ValueError, match="unknown search config keys"):
        ModelConfig.from_dict({"search": {"sparse_joint": 1.0}})


def test_tree_links_every_chosen_joint_along_the_object():
    """An L-shaped object drawn by many points: the tree over its three corners follows it."""
    from skeleton_perception.nn.structure_search import tree_skeleton

    arm = [[x, 10.0] for x in range(10, 41, 2)] + [[40.0, y] for y in range(12, 41, 2)]
    xy = torch.tensor([[*arm, [5.0, 60.0]]])  # (1, 32, 2): corner ids 0, 15, 30; 31 is away
    S = tree_skeleton(xy, [0, 15, 30, 31], 64)
    assert S.shape == (1, 32, 32)
    got = links(S)
    assert {(0, 15), (15, 30)} <= got  # along the arms, not the diagonal 0-30
    assert (0, 30) not in got
    assert len(got) == 3  # a spanning tree of the 4 joints: the far point is linked too
    assert {a for e in got for a in e} == {0, 15, 30, 31}
    torch.testing.assert_close(S, S.transpose(1, 2))


def test_fixed_structure_publishes_the_same_joints_in_every_image():
    torch.manual_seed(0)
    cfg_ = ModelConfig(num_points=8, unet_width=4, psi_width=4, bg_width=4, bg_latent=4,
                       structure="fixed", joint_ids=[1, 4, 6])  # fmt: skip
    model = SkeletonModel(cfg_).eval()
    from skeleton_perception import SkeletonDetector

    det = SkeletonDetector(model, device="cpu")
    rng = torch.Generator().manual_seed(1)
    images = [(torch.rand(40, 50, 3, generator=rng) * 255).byte().numpy() for _ in range(3)]
    for sk in det.predict_batch(images):
        assert sk.joint_ids.tolist() == [1, 4, 6] and len(sk.links) == 2
    with pytest.raises(ValueError, match="joint_ids"):
        ModelConfig(num_points=8, structure="fixed", joint_ids=[1])
    with pytest.raises(ValueError, match="joint_ids"):
        ModelConfig(num_points=8, structure="fixed", joint_ids=[1, 8])
