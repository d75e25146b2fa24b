"""Every object family, rendered for real: skeleton shape, projection, visibility, motion."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from skeleton_perception.training.sim import families  # sets MUJOCO_GL before dm_control
from skeleton_perception.training.sim.datasets import DATASETS
from skeleton_perception.training.sim.episode import EpisodeConfig, EpisodeRenderer, plan

CONFIG = EpisodeConfig(num_frames=30, action_every=5, size=(64, 64))

# variant -> number of ground-truth joints
EXPECTED = {
    "spider-3legs": 10,
    "spider-5legs": 16,
    "spider-8legs": 25,
    "cartpole-1": 2,
    "cartpole-5": 6,
    "swimmer-2": 3,
    "swimmer-7": 8,
    "walker": 8,
    "hopper": 7,
    "cheetah": 9,
    "manipulator": 8,
}


def _is_tree(adjacency: np.ndarray) -> bool:
    n = len(adjacency)
    if adjacency.sum() // 2 != n - 1:
        return False
    seen, todo = {0}, [0]
    while todo:
        for j in np.flatnonzero(adjacency[todo.pop()]):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    return len(seen) == n


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def planned(request):
    rng = np.random.default_rng(7)
    return plan(families.build(request.param, rng), rng, CONFIG)


def test_skeleton_is_a_tree_of_the_right_size(planned):
    adj = planned.adjacency
    n = EXPECTED[planned.obj.variant]
    assert adj.shape == (n, n) and adj.dtype == bool
    assert families.num_keypoints(planned.obj.variant) == n
    assert (adj == adj.T).all() and not adj.diagonal().any()
    assert _is_tree(adj)


def test_every_joint_in_view_and_moving(planned):
    joints = planned.joints  # (T, J, 2)
    assert joints.shape == (CONFIG.num_frames, len(planned.adjacency), 2)
    assert np.isfinite(joints).all() and planned.visible.all()
    assert (joints >= 0).all() and (joints <= 63).all()
    # No part sits at a fixed image position for the episode; the root travels.
    travel = np.ptp(joints, axis=0).max(axis=1)  # (J,) pixels
    assert travel.min() > 3.0, travel
    # The pose changes, not just the position: joint offsets from their mean move too.
    centred = joints - joints.mean(axis=1, keepdims=True)
    assert np.ptp(centred, axis=0).max() > 5.0


def test_joints_lie_on_the_rendered_object(planned):
    """Ground truth and pixels agree: each joint is near object pixels, not background."""
    model = planned.obj.model
    renderer = EpisodeRenderer(planned, CONFIG.size)
    try:
        frames = [renderer.frame(t) for t in (0, 15, 29)]
        groups = model.geom_group.copy()
        model.geom_group[:] = 3  # hide the object: background only
        backgrounds = [renderer.frame(t) for t in (0, 15, 29)]
        model.geom_group[:] = groups
    finally:
        renderer.close()
    hits = []
    for k, t in enumerate((0, 15, 29)):
        diff = np.abs(frames[k].astype(int) - backgrounds[k].astype(int)).max(axis=2) > 12
        assert diff.any()
        for x, y in planned.joints[t]:
            c, r = round(float(x)), round(float(y))
            hits.append(diff[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any())
    assert np.mean(hits) >= 0.95, np.mean(hits)


def test_projection_matches_dm_control_camera_matrix(planned):
    from dm_control import mujoco as dm_mujoco
    from dm_control.mujoco import wrapper

    physics = dm_mujoco.Physics.from_model(wrapper.MjModel(planned.obj.model))
    for t in (0, 17, 29):
        physics.data.qpos[:] = planned.rollout.qpos[t]
        physics.forward()
        physics.data.cam_xpos[0] = planned.camera.positions[t]
        physics.data.cam_xmat[0] = planned.camera.rotation.reshape(-1)
        matrix = dm_mujoco.Camera(physics, height=64, width=64, camera_id=0).matrix  # (3, 4)
        world = planned.rollout.keypoints[t]
        uvw = np.c_[world, np.ones(len(world))] @ matrix.T
        np.testing.assert_allclose(planned.joints[t], uvw[:, :2] / uvw[:, 2:], atol=1e-3)


def test_hinge_keypoints_are_joint_anchors():
    rng = np.random.default_rng(3)
    obj = families.build("spider-4legs", rng)
    data = mujoco.MjData(obj.model)
    data.qpos[7:] = rng.uniform(-0.5, 0.5, size=obj.model.nq - 7)
    mujoco.mj_forward(obj.model, data)
    kp = obj.keypoint_positions(data)
    names = [k.name for k in obj.keypoints]
    for leg in range(4):
        knee = obj.model.joint(f"knee_{leg}").id
        np.testing.assert_allclose(kp[names.index(f"knee_{leg}")], data.xanchor[knee], atol=1e-9)
        hip = obj.model.joint(f"swing_{leg}").id
        np.testing.assert_allclose(kp[names.index(f"hip_{leg}")], data.xanchor[hip], atol=1e-9)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_episodes_are_deterministic(name):
    spec = DATASETS[name]
    config = EpisodeConfig(num_frames=6, size=(32, 48))
    a = spec.episode("test", 1, config)
    b = spec.episode("test", 1, config)
    assert a.family in spec.variants("test")
    assert a.frames.shape == (6, 32, 48, 3)
    assert a.joints.shape[1] <= spec.max_joints
    for field in ("frames", "joints", "visible", "adjacency"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.seed == b.seed and a.family == b.family
    assert not np.array_equal(a.joints, spec.episode("test", 2, config).joints)
