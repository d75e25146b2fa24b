"""Which of π's maps the teacher's are scored against: per frame, per episode, by chains."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skeleton_perception.training.distill import distillation_loss
from skeleton_perception.training.id_matching import (
    colour_chains,
    colour_signatures,
    matched_order,
)


def test_matched_order_undoes_a_permutation_within_each_group_only():
    torch.manual_seed(1)
    teacher = torch.randn(3, 6, 8, 8) * 4  # (B, P, H, W)
    groups = [[0, 2, 4], [1, 5]]  # point 3 is in no group
    perm = torch.tensor([[4, 5, 0, 3, 2, 1], [2, 1, 4, 3, 0, 5], [0, 1, 2, 3, 4, 5]])
    student = torch.stack([teacher[b, perm[b]] for b in range(3)])  # map i: teacher's perm[b, i]
    order = matched_order(student, teacher, groups)
    matched = student.gather(1, order[:, :, None, None].expand_as(student))
    assert torch.equal(matched, teacher)
    assert float(distillation_loss(matched, teacher)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(student, teacher)) > 1.0
    assert order[:, 3].tolist() == [3, 3, 3]
    # A swap across groups is not undone: the ids stay in their group.
    across = teacher[:, [1, 0, 2, 3, 4, 5]]
    order = matched_order(across, teacher, groups)
    assert not torch.equal(across.gather(1, order[:, :, None, None].expand_as(across)), teacher)


def test_matched_order_shares_one_assignment_per_episode():
    torch.manual_seed(2)
    teacher = torch.randn(4, 4, 8, 8) * 4  # (B, P, H, W)
    groups = [[0, 1, 2, 3]]
    swap, same = [1, 0, 2, 3], [0, 1, 2, 3]
    perms = [swap, swap, same, same]  # frames 0-2: episode 0, frame 3: episode 1
    student = torch.stack([teacher[b, perms[b]] for b in range(4)])
    alone = matched_order(student, teacher, groups)  # every frame its own assignment
    assert alone.tolist() == [swap, swap, same, same]
    shared = matched_order(student, teacher, groups, episode=torch.tensor([0, 0, 0, 1]))
    # Episode 0 takes the assignment that fits two of its three frames, for all three.
    assert shared.tolist() == [swap, swap, swap, same]


def test_chains_share_one_id_per_part_whatever_the_teachers_ids():
    torch.manual_seed(3)
    teacher = torch.randn(3, 3, 8, 8) * 4  # (B, P, H, W): one episode of three frames
    groups = [[0, 1, 2]]
    # The teacher numbers the parts differently in frame 1; π numbers them as in frame 0.
    teacher[1] = teacher[1, [2, 0, 1]]
    student = torch.stack([teacher[0], teacher[1, [1, 2, 0]], teacher[2]])
    episode = torch.tensor([0, 0, 0])
    by_id = matched_order(student, teacher, groups, episode=episode)
    assert by_id.tolist() == [[0, 1, 2]] * 3  # the teacher's ids as chains: frame 1 is wrong
    chains = np.array([[0, 1, 2], [2, 0, 1], [0, 1, 2]])  # point i of frame 1 is part chains[1, i]
    order = matched_order(student, teacher, groups, episode=episode, chains=chains)
    assert order.tolist() == [[0, 1, 2], [2, 0, 1], [0, 1, 2]]
    matched = student.gather(1, order[:, :, None, None].expand_as(student))
    assert torch.equal(matched, teacher)
    # an unchained point is matched in its own frame among the ids left
    chains[1, 1] = -1
    assert matched_order(student, teacher, groups, episode=episode, chains=chains).equal(order)


def _frame(colours: dict, size: int = 16) -> torch.Tensor:
    """A dark frame with 3x3 squares of colour at the given pixels."""
    img = torch.full((3, size, size), 0.1)
    for (x, y), rgb in colours.items():
        img[:, y - 1 : y + 2, x - 1 : x + 2] = torch.tensor(rgb)[:, None, None]
    return img


def test_colour_chains_follow_the_parts_colour_and_leave_the_rest():
    red, blue, green = (0.9, 0.1, 0.1), (0.1, 0.2, 0.9), (0.1, 0.9, 0.2)
    first = _frame({(3, 3): red, (12, 3): blue})
    later = _frame({(5, 12): blue, (10, 10): red, (2, 8): green})
    plain = torch.stack([first, later])  # (2, 3, H, W): one episode
    xy = torch.tensor([
        [[3, 3], [12, 3], [8, 14], [0, 15]],  # red, blue, background, background
        [[10, 10], [5, 12], [2, 8], [15, 0]],  # red, blue, green (no such part before), bg
    ])  # fmt: skip
    sig = colour_signatures(plain, xy)
    assert sig[0, 0] == pytest.approx(red) and sig[1, 1] == pytest.approx(blue)
    assert np.isnan(sig[0, 2]).all() and np.isnan(sig[1, 3]).all()
    chains = colour_chains(sig, torch.tensor([0, 0]), ids=[0, 1, 2])  # point 3: no joint
    assert chains.tolist() == [[0, 1, -1, 3], [0, 1, -1, 3]]
    # two episodes are chained apart
    apart = colour_chains(sig, torch.tensor([0, 1]), ids=[0, 1, 2])
    assert apart.tolist() == [[0, 1, -1, 3], [0, 1, 2, 3]]
