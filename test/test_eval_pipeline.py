"""Predictor adapters, the evaluate / train-transporter / report commands on real tiny data."""

import json

import numpy as np
import pytest
from skeleton_perception.training.evaluation import paper, predictors
from skeleton_perception.training.evaluation.protocol import (
    EpisodeTruth,
    EvalParams,
    evaluate_all,
)

from skeleton_perception import cli
from skeleton_perception.skeleton import Skeleton


def skel(ids, xy, links=(), points=None, conn=None) -> Skeleton:
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    links = np.asarray(links, np.int64).reshape(-1, 2)
    return Skeleton(
        joints=xy,
        joint_ids=np.asarray(ids, np.int64),
        joint_scores=np.ones(len(ids), np.float32),
        links=links,
        link_scores=np.ones(len(links), np.float32),
        image_size=(65, 65),
        points=np.zeros((0, 2), np.float32) if points is None else np.asarray(points, np.float32),
        connectivity=np.zeros((0, 0), np.float32) if conn is None else np.asarray(conn),
    )


def test_frame_joint_set_is_union_of_ids_present_where_joints():
    frames = [
        skel([3, 7], [[1, 1], [2, 2]], [(0, 1)]),
        skel([7], [[5, 5]]),
        skel([1, 3], [[9, 9], [8, 8]], [(0, 1)]),
    ]
    pred = predictors.to_prediction(frames, structure_frame=0, has_structure=True)
    # Trajectories are ids 1, 3, 7 in that order.
    assert pred.present.tolist() == [[False, True, True], [False, False, True], [True, True, False]]
    assert pred.joints[1, 2].tolist() == [5, 5]
    assert pred.adjacency.tolist() == [
        [False, False, False],
        [False, False, True],
        [False, True, False],
    ]


def test_structure_frame_joint_set_follows_points():
    points = [[0, 0], [1, 1], [2, 2], [3, 3]]
    conn = np.zeros((4, 4), np.float32)
    conn[1, 2] = conn[2, 1] = 0.9
    conn[1, 3] = conn[3, 1] = 0.5  # not > 0.5: no link
    frames = [
        skel([1, 2], [[1, 1], [2, 2]], [(0, 1)], points, conn),
        skel([2, 3], [[2, 2], [3, 3]], [(0, 1)], np.asarray(points) + 10, conn),
    ]
    pred = predictors.to_prediction(frames, 0, True, joint_set="structure-frame")
    assert pred.present.all() and pred.joints.shape == (2, 2, 2)
    assert pred.joints[1].tolist() == [[11, 11], [12, 12]]  # ids 1, 2 in frame 1's points
    assert pred.adjacency.tolist() == [[False, True], [True, False]]


def test_no_structure_gives_no_adjacency():
    pred = predictors.to_prediction([skel([0, 1], [[1, 1], [2, 2]])], 0, has_structure=False)
    assert pred.adjacency is None


def test_random_predictor_is_seeded_and_valid():
    frames = np.zeros((5, 32, 48, 3), np.uint8)
    a = predictors.RandomPredictor(max_joints=6, seed=1).predict_episode(frames, 4)
    b = predictors.RandomPredictor(max_joints=6, seed=1).predict_episode(frames, 4)
    c = predictors.RandomPredictor(max_joints=6, seed=1).predict_episode(frames, 5)
    assert all(np.array_equal(x.joints, y.joints) for x, y in zip(a, b, strict=True))
    assert not all(
        x.joints.shape == y.joints.shape and np.array_equal(x.joints, y.joints)
        for x, y in zip(a, c, strict=True)
    )
    for s in a:
        assert 2 <= s.num_joints <= 6
        assert len(s.links) == s.num_joints - 1  # a tree
        assert (s.joints[:, 0] <= 47).all() and (s.joints[:, 1] <= 31).all()


def test_random_predictor_scores_near_chance_on_a_chain():
    # A static 4-joint chain; the random predictor should find almost no joints.
    T = 30
    base = np.array([[10.0, 10.0], [20.0, 25.0], [30.0, 40.0], [40.0, 55.0]])
    adjacency = np.zeros((4, 4), bool)
    for a, b in [(0, 1), (1, 2), (2, 3)]:
        adjacency[a, b] = adjacency[b, a] = True
    truth = EpisodeTruth(np.repeat(base[None], T, 0), np.ones((T, 4), bool), adjacency, (65, 65))
    rp = predictors.RandomPredictor(max_joints=4, seed=0)
    skeletons = rp.predict_episode(np.zeros((T, 65, 65, 3), np.uint8), 0)
    pred = predictors.to_prediction(skeletons, 0, True)
    s = evaluate_all(EvalParams(epsilon=0.15), [(truth, pred)]).summarize()
    assert s["joints"]["rec"] < 0.3
    assert 0.0 <= s["structure"]["acc"] <= 1.0


def test_paper_tables_are_consistent():
    # In every row of the paper's tables F1 is the harmonic mean of Prec and Rec.
    for table in (paper.TABLE1_OURS, paper.TABLE1_LI, paper.TABLE2_OURS, paper.TABLE2_KULKARNI):
        for row in table.values():
            f1 = 2 * row["prec"] * row["rec"] / (row["prec"] + row["rec"])
            assert f1 == pytest.approx(row["f1"], abs=0.011)
    assert paper.paper_key("cartpoles") == "cartpoles"
    assert paper.paper_key("spiders0shot") == "spiders0shot"
    assert paper.paper_key("unknown") is None
    assert paper.EPSILON["cartpoles"] == 0.15


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "cartpoles"
    code = cli.main(
        [
            "generate",
            "--dataset",
            "cartpoles",
            "--out",
            str(root),
            "--episodes",
            "2",
            "--val-episodes",
            "0",
            "--test-episodes",
            "2",
            "--frames",
            "12",
            "--quiet",
        ]
    )
    assert code == 0
    return root


def test_ours_through_the_detector(tiny_data, tmp_path):
    import torch

    from skeleton_perception.checkpoint import save_checkpoint
    from skeleton_perception.nn.model import ModelConfig, SkeletonModel

    torch.manual_seed(0)
    model = SkeletonModel(ModelConfig(num_points=8, unet_width=4, psi_width=8))
    ckpt = save_checkpoint(
        tmp_path / "ours.pt",
        model.state_dict(),
        {"model": model.cfg.to_dict()},
        step=3,
        metadata={"hardware": "test", "ema": torch.zeros(100), "lr": torch.tensor(0.5)},
    )
    out = tmp_path / "ours.json"
    fig = tmp_path / "ours.png"
    args = ["evaluate", "--checkpoint", str(ckpt), "--data", str(tiny_data), "--out", str(out)]
    assert cli.main([*args, "--figure", str(fig), "--figure-with", "random="]) == 0
    data = json.loads(out.read_text())
    assert data["model"] == "ours" and data["summary"]["structure"] is not None
    assert data["checkpoint_metadata"]["step"] == 3
    assert data["checkpoint_metadata"]["lr"] == 0.5
    assert fig.exists()


def test_commands_end_to_end(tiny_data, tmp_path):
    results, images = tmp_path / "results", tmp_path / "images"
    run = tmp_path / "tp"
    assert (
        cli.main(
            [
                "train-transporter",
                "--data",
                str(tiny_data),
                "--out",
                str(run),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    ckpt = run / "checkpoint.pt"
    assert ckpt.exists() and (run / "log.csv").exists()
    for model, extra in (("random", []), ("transporter", ["--checkpoint", str(ckpt)])):
        out = results / f"cartpoles-{model}.json"
        args = ["evaluate", "--model", model, "--data", str(tiny_data), "--out", str(out)]
        args += ["--figure", str(images / f"cartpoles-{model}.png"), *extra]
        assert cli.main(args) == 0
        data = json.loads(out.read_text())
        assert data["dataset"] == "cartpoles" and data["num_episodes"] == 2
        assert data["params"]["epsilon"] == 0.15
        assert len(data["per_episode"]) == 2
        assert (data["summary"]["structure"] is None) == (model == "transporter")
        assert (images / f"cartpoles-{model}.png").exists()
    tp = json.loads((results / "cartpoles-transporter.json").read_text())
    assert tp["checkpoint_metadata"]["step"] == 2
    report = tmp_path / "RESULTS.md"
    args = ["report", "--results", str(results), "--out", str(report), "--images", str(images)]
    notes = tmp_path / "notebook" / "results-notes.md"
    assert cli.main([*args, "--notes", str(notes)]) == 1  # no such file: one clear refusal
    notes.parent.mkdir()
    notes.write_text("## Session 1\n\nDated lab notes.\n")
    assert cli.main([*args, "--notes", str(notes)]) == 0
    text = report.read_text()
    assert "(notebook/results-notes.md)" in text  # linked relative to RESULTS.md
    assert "Dated lab notes" not in text  # the notes stay in their own file
    assert "Chance: random skeleton (measured)" in text
    assert "Kulkarni et al. [11] (paper, Table II)" in text
    assert "Transporter [11] (measured" in text
    assert "images/cartpoles-random.png" in text


def test_report_ablation_and_spread_rows(tmp_path):
    from skeleton_perception.training.evaluation import report

    def result(label, f1):
        joints = {"dist": 0.1, "consistency": 0.9, "f1": f1, "prec": f1, "rec": f1, "diff": 1.0}
        structure = {"acc": 0.9, "bcc": 0.8, "f1": 0.7, "prec": 0.7, "rec": 0.7}
        return {
            "dataset": "cartpoles",
            "model": "ours",
            "label": label,
            "split": "test",
            "num_episodes": 1,
            "params": {"epsilon": 0.15, "seed": 0, "link_threshold": 0.5, "joint_set": "frame"},
            "summary": {"structure": structure, "joints": joints},
            "per_episode": [{"episode": 0, "structure": structure, "joints": joints}],
        }

    text = report.build_report(
        [result("ours", 0.8), result("ours-no-sparse", 0.5)],
        tmp_path / "R.md",
        tmp_path,
        notes="docs/notebook/results-notes.md",
    )
    assert "[results-notes.md](docs/notebook/results-notes.md)" in text
    assert "| ours-no-sparse (measured, this dataset) |" in text
    assert "+0.300" in text  # J.F1 0.8 - 0.5
    assert "| ours-no-sparse (paper, mean of datasets) |" in text
    assert "0.80 ± 0.00 (n=1)" in text


def test_evaluate_scores_the_search_with_other_weights_over_several_folders(
    tiny_data, tmp_path, capsys
):
    import argparse

    import torch
    from skeleton_perception.training.evaluation import evaluate

    from skeleton_perception.checkpoint import save_checkpoint
    from skeleton_perception.nn.model import ModelConfig, SkeletonModel

    torch.manual_seed(0)
    model = SkeletonModel(ModelConfig(num_points=8, unet_width=4, psi_width=8))  # S by ψ
    ckpt = save_checkpoint(tmp_path / "m.pt", model.state_dict(), {"model": model.cfg.to_dict()})
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)

    def run(*extra):
        base = ["--checkpoint", str(ckpt), "--split", "test", "--joint-set", "structure-frame"]
        return evaluate.run(parser.parse_args([*base, *extra]))

    out = tmp_path / "sweep"
    assert run("--data", str(tiny_data), str(tiny_data), "--out", str(out),
               "--search", "sparse_joints=0", "count_power=1") == 0  # fmt: skip
    data = json.loads((out / "cartpoles-ours.json").read_text())
    assert data["structure"] == "search" and data["search"] == {
        "sparse_joints": 0.0, "count_power": 1.0
    }  # fmt: skip
    st, jo = data["summary"]["structure"], data["summary"]["joints"]
    mean = capsys.readouterr().out.splitlines()[-1]
    assert mean.startswith("mean over 2 datasets") and f"joints F1 {jo['f1']:.3f}" in mean
    assert f"structure Bcc {st['bcc']:.3f}" in mean
    # free joints: the search links more than with the default joint cost
    assert run("--data", str(tiny_data), "--out", str(tmp_path / "d.json"), "--search",
               "sparse_joints=1000") == 0  # fmt: skip
    costly = json.loads((tmp_path / "d.json").read_text())["summary"]["structure"]
    assert st["tp"] + st["fp"] > costly["tp"] + costly["fp"]
    with pytest.raises(SystemExit, match="rigid"):
        run("--data", str(tiny_data), "--out", str(out), "--search", "rigid=1")
    with pytest.raises(SystemExit, match="folder"):
        run("--data", str(tiny_data), str(tiny_data), "--out", str(tmp_path / "x.json"))
