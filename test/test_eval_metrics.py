"""The paper's metrics on hand-made episodes with known answers."""

import math

import numpy as np
import pytest
from skeleton_perception.training.evaluation import matching, metrics
from skeleton_perception.training.evaluation.protocol import (
    EpisodePrediction,
    EpisodeTruth,
    EvalParams,
    evaluate_all,
    structure_frame,
)

# 65x65 images: normalised u = x / 32 - 1, so 1 normalised unit = 32 px.
SIZE = (65, 65)
PX = 32.0
EPS = 0.15
T = 10
CHAIN = np.zeros((4, 4), bool)
for a, b in [(0, 1), (1, 2), (2, 3)]:
    CHAIN[a, b] = CHAIN[b, a] = True


def chain_truth(index: int = 0) -> EpisodeTruth:
    """A 4-joint chain translating to the right; joints 10 px apart vertically and
    horizontally staggered so every pair is farther apart than ε."""
    base = np.array([[10.0, 10.0], [20.0, 25.0], [30.0, 40.0], [40.0, 55.0]])
    shift = np.arange(T, dtype=np.float64)[:, None, None] * np.array([1.0, 0.0])
    joints = base[None] + shift  # (T, 4, 2)
    return EpisodeTruth(
        joints=joints,
        visible=np.ones((T, 4), bool),
        adjacency=CHAIN.copy(),
        image_size=SIZE,
        index=index,
    )


def perfect(truth: EpisodeTruth) -> EpisodePrediction:
    return EpisodePrediction(
        joints=truth.joints.copy(),
        present=np.ones(truth.visible.shape, bool),
        adjacency=truth.adjacency.copy(),
        structure_frame=3,
    )


def score(truth, pred, epsilon=EPS):
    return evaluate_all(EvalParams(epsilon=epsilon), [(truth, pred)]).summarize()


def test_perfect_prediction_scores_one_and_zero():
    s = score(chain_truth(), perfect(chain_truth()))
    for name in ("acc", "bcc", "f1", "prec", "rec"):
        assert s["structure"][name] == pytest.approx(1.0), name
    j = s["joints"]
    for name in ("consistency", "f1", "prec", "rec"):
        assert j[name] == pytest.approx(1.0), name
    assert j["dist"] == pytest.approx(0.0)
    assert j["diff"] == 0.0


def test_permuted_ids_are_matched_back():
    truth = chain_truth()
    pred = perfect(truth)
    perm = np.array([2, 0, 3, 1])
    pred.joints = pred.joints[:, perm]
    pred.adjacency = pred.adjacency[np.ix_(perm, perm)]
    s = score(truth, pred)
    assert s["structure"]["acc"] == pytest.approx(1.0)
    assert s["joints"]["f1"] == pytest.approx(1.0)


def test_shift_beyond_epsilon_has_recall_zero():
    truth = chain_truth()
    pred = perfect(truth)
    pred.joints = pred.joints + np.array([0.2 * PX, 0.0])  # 0.2 > ε = 0.15
    j = score(truth, pred)["joints"]
    assert j["rec"] == 0.0
    assert j["prec"] == 0.0
    assert j["f1"] == 0.0
    # Dist averages every matched pair, within ε or not, as the paper's Table II does
    # (its Dist exceeds ε in places); the mean over the pairs within ε is kept apart.
    assert j["dist"] == pytest.approx(0.2)
    assert math.isnan(j["dist_within_eps"])  # no pair within ε
    assert j["num_matched_pairs"] > 0 and j["num_kept_pairs"] == 0
    # Within ε the same shift is kept, and both are exactly the shift.
    j = score(truth, pred, epsilon=0.25)["joints"]
    assert j["rec"] == pytest.approx(1.0)
    assert j["dist"] == pytest.approx(0.2) and j["dist_within_eps"] == pytest.approx(0.2)
    assert j["num_kept_pairs"] == j["num_matched_pairs"]


def test_swapped_identity_lowers_consistency_by_swapped_fraction():
    truth = chain_truth()
    pred = perfect(truth)
    swapped = 3  # frames 0..2 of 10 swap the ids of joints 0 and 1
    pred.joints[:swapped, [0, 1]] = pred.joints[:swapped, [1, 0]]
    j = score(truth, pred)["joints"]
    # Episode match keeps 0->0, 1->1 (7 of 10 frames agree); in the 3 swapped frames the
    # frame matching says 0->1, 1->0: 2 of 4 joints inconsistent in 3 of 10 frames.
    assert j["consistency"] == pytest.approx(1.0 - (2 * swapped) / (4 * T))
    # Those two joints are beyond ε from their episode match in those frames.
    assert j["rec"] == pytest.approx(1.0 - (2 * swapped) / (4 * T))


def test_extra_spurious_joint_lowers_precision_and_raises_diff_by_one():
    truth = chain_truth()
    pred = perfect(truth)
    far = np.full((T, 1, 2), 60.0)  # far from every joint in every frame
    pred.joints = np.concatenate([pred.joints, far], axis=1)
    pred.present = np.ones((T, 5), bool)
    adjacency = np.zeros((5, 5), bool)
    adjacency[:4, :4] = truth.adjacency
    pred.adjacency = adjacency
    j = score(truth, pred)["joints"]
    assert j["prec"] == pytest.approx(4 / 5)
    assert j["rec"] == pytest.approx(1.0)
    assert j["diff"] == pytest.approx(1.0)
    assert j["consistency"] == pytest.approx(1.0)  # the unmatched joint is not counted


def test_structure_on_hand_built_chain():
    # Ground truth chain 0-1-2-3. Predicted links 0-1, 0-2, 0-3, 2-3:
    # pairs 01 TP, 02 FP, 03 FP, 12 FN, 13 TN, 23 TP -> tp=2 fp=2 tn=1 fn=1.
    truth = chain_truth()
    pred = perfect(truth)
    adjacency = np.zeros((4, 4), bool)
    for a, b in [(0, 1), (0, 2), (0, 3), (2, 3)]:
        adjacency[a, b] = adjacency[b, a] = True
    pred.adjacency = adjacency
    s = score(truth, pred)["structure"]
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (2, 2, 1, 1)
    assert s["acc"] == pytest.approx(3 / 6)
    assert s["prec"] == pytest.approx(2 / 4)
    assert s["rec"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 7)
    assert s["bcc"] == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_links_to_unmatched_joint_are_false_positives():
    truth = chain_truth()
    pred = perfect(truth)
    pred.joints = np.concatenate([pred.joints, np.full((T, 1, 2), 60.0)], axis=1)
    pred.present = np.ones((T, 5), bool)
    adjacency = np.zeros((5, 5), bool)
    adjacency[:4, :4] = truth.adjacency
    adjacency[0, 4] = adjacency[4, 0] = True  # link to the spurious joint
    pred.adjacency = adjacency
    s = score(truth, pred)["structure"]
    # 10 pairs: 3 true links found, 1 link to nowhere (FP), 6 true negatives.
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (3, 1, 6, 0)


def test_structure_pairs_are_those_present_in_structure_frame():
    truth = chain_truth()
    pred = perfect(truth)
    pred.present[pred.structure_frame, 3] = False  # joint 3 absent where S was taken
    s = score(truth, pred)["structure"]
    assert s["tp"] + s["fp"] + s["tn"] + s["fn"] == 3  # pairs among joints 0, 1, 2


def test_absent_frames_and_invisible_joints():
    truth = chain_truth()
    truth.visible[5:, 3] = False  # joint 3 leaves the image
    pred = perfect(truth)
    pred.present[:2, 1] = False  # joint 1 is not predicted on two frames
    j = score(truth, pred)["joints"]
    num_gt = np.array([4] * 5 + [3] * 5)
    num_pred = np.array([3, 3] + [4] * 8)
    # Frames 5..9: the prediction of joint 3 has no visible partner -> not kept.
    num_kept = np.minimum(num_pred, num_gt)
    assert j["prec"] == pytest.approx(np.mean(num_kept / num_pred))
    assert j["rec"] == pytest.approx(np.mean(num_kept / num_gt))
    assert j["diff"] == pytest.approx(np.mean(np.abs(num_pred - num_gt)))
    assert j["consistency"] == pytest.approx(1.0)


def test_empty_prediction_scores_zero_not_nan():
    truth = chain_truth()
    pred = EpisodePrediction(
        joints=np.zeros((T, 0, 2)), present=np.zeros((T, 0), bool), adjacency=np.zeros((0, 0))
    )
    s = score(truth, pred)
    assert s["joints"]["prec"] == 0.0
    assert s["joints"]["rec"] == 0.0
    assert s["joints"]["diff"] == 4.0
    assert s["structure"]["tp"] + s["structure"]["fp"] == 0


def test_pooling_over_episodes_and_per_episode_rows():
    truth_a, truth_b = chain_truth(0), chain_truth(1)
    good = perfect(truth_a)
    bad = perfect(truth_b)
    bad.joints = bad.joints + np.array([0.2 * PX, 0.0])
    ev = evaluate_all(EvalParams(epsilon=EPS), [(truth_a, good), (truth_b, bad)])
    j = ev.summarize()["joints"]
    assert j["rec"] == pytest.approx(0.5)
    assert j["f1"] == pytest.approx(0.5)  # harmonic mean of the mean P (0.5) and R (0.5)
    assert j["f1_frame_mean"] == pytest.approx(0.5)
    rows = ev.per_episode()
    assert [r["joints"]["rec"] for r in rows] == [1.0, 0.0]
    # Dist over every matched pair of both episodes (half at 0, half at 0.2); within ε
    # only the first episode's; per episode likewise.
    assert j["dist"] == pytest.approx(0.1)
    assert j["dist_within_eps"] == pytest.approx(0.0)
    assert [r["joints"]["dist"] for r in rows] == pytest.approx([0.0, 0.2])
    assert math.isnan(rows[1]["joints"]["dist_within_eps"])


def test_normalisation_and_matching_helpers():
    xy = np.array([[0.0, 0.0], [64.0, 64.0], [32.0, 16.0]])
    np.testing.assert_allclose(matching.normalise_xy(xy, SIZE), [[-1, -1], [1, 1], [0, -0.5]])
    assert list(matching.hungarian(np.array([[5.0, 1.0], [1.0, 5.0], [9.0, 9.0]]))) == [1, 0, -1]
    d = np.full((2, 1, 1), np.nan)
    assert matching.episode_cost(d)[0, 0] == matching.NO_OVERLAP_COST


def test_binary_scores_undefined_is_nan():
    s = metrics.binary_scores(np.array([0, 0, 5, 0]))
    assert math.isnan(s["prec"]) and math.isnan(s["rec"])
    assert s["acc"] == 1.0 and s["bcc"] == 1.0


def test_structure_frame_is_seeded_and_in_range():
    frames = [structure_frame(i, 90, seed=0) for i in range(20)]
    assert frames == [structure_frame(i, 90, seed=0) for i in range(20)]
    assert all(0 <= f < 90 for f in frames)
    assert len(set(frames)) > 1


def test_f1_at_half_epsilon_counts_only_the_closer_matches():
    """A joint 0.1 from its match is kept at ε = 0.15 but not at ε/2 = 0.075."""
    from skeleton_perception.training.evaluation.protocol import (
        EpisodePrediction,
        EpisodeTruth,
        EvalParams,
        Evaluator,
    )

    T = 4
    gt = np.zeros((T, 2, 2))
    gt[:, 0] = [16.0, 32.0]
    gt[:, 1] = [48.0, 32.0]
    pred = gt.copy()
    pred[:, 1, 0] += 0.1 * 32  # 0.1 normalised units off (64 px image: 32 px per unit)
    truth = EpisodeTruth(gt, np.ones((T, 2), bool), np.eye(2, dtype=bool)[::-1], (64, 64))
    ev = Evaluator(EvalParams(epsilon=0.15))
    ev.evaluate(truth, EpisodePrediction(pred, np.ones((T, 2), bool)))
    joints = ev.summarize()["joints"]
    assert joints["f1"] == pytest.approx(1.0)
    assert joints["f1_half_eps"] == pytest.approx(0.5)


def test_border_fraction_counts_published_joints_within_two_pixels_of_the_border():
    # 65x65: the image spans [-0.5, 64.5]; 2 px from the left edge is x = 1.5.
    truth = chain_truth()
    pred = perfect(truth)
    pred.joints[:, 0] = [1.5, 30.0]  # exactly 2 px from the left edge: counts
    pred.joints[:, 1] = [30.0, 1.6]  # 2.1 px from the top edge: does not
    pred.joints[:5, 2] = [30.0, 63.0]  # 1.5 px from the bottom edge, in 5 of 10 frames
    pred.joints[:, 3] = [70.0, 30.0]  # outside the image: counts
    pred.present[:, 3] = False  # ... unless it is not published
    pred.present[:2, 3] = True  # published in 2 frames
    s = score(truth, pred)
    # border joints: 10 (joint 0) + 5 (joint 2) + 2 (joint 3); published: 3 * 10 + 2.
    assert s["joints"]["border_fraction"] == pytest.approx(17 / 32)
    assert metrics.near_border(np.array([[[64.5 - 2.01, 30]]]), np.ones((1, 1)), SIZE).sum() == 0
    assert score(truth, perfect(truth))["joints"]["border_fraction"] == 0.0


def test_border_fraction_is_nan_without_published_joints():
    truth = chain_truth()
    pred = perfect(truth)
    pred.present[:] = False
    pred.adjacency = None
    assert math.isnan(score(truth, pred)["joints"]["border_fraction"])
