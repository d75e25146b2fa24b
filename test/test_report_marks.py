"""RESULTS.md marks with ✓ the cells where our measured row matches or beats the paper."""

from __future__ import annotations

import json

import pytest
from skeleton_perception.training.evaluation.tables import markdown_table, matches_or_beats


def test_matches_or_beats_respects_direction_and_precision():
    assert matches_or_beats(0.95, 0.95, "acc")
    assert matches_or_beats(0.951, 0.949, "f1")  # both 0.95 at two decimals
    assert not matches_or_beats(0.93, 0.95, "bcc")
    assert matches_or_beats(0.080, 0.086, "dist") and not matches_or_beats(0.090, 0.086, "dist")
    assert matches_or_beats(1.0, 1.2, "diff") and not matches_or_beats(27.8, 1.2, "diff")
    assert not matches_or_beats(None, 0.5, "acc") and not matches_or_beats(0.5, None, "acc")


def test_only_marked_rows_get_ticks():
    paper = {"acc": 0.9, "diff": 1.2}
    rows = {"Ours (measured)": {"acc": 0.95, "diff": 3.0}, "Chance": {"acc": 0.99, "diff": 0.0}}
    table = markdown_table(rows, ["acc", "diff"], reference=paper, marked=["Ours (measured)"])
    ours, chance = table.splitlines()[2:]
    assert ours == "| Ours (measured) | 0.95 ✓ | 3.00 |"
    assert "✓" not in chance


def test_training_table_counts_the_steps_of_every_run_the_time_counts():
    from skeleton_perception.training.evaluation.report import _training_rows

    shipped = {"checkpoint": "default.pt", "label": "Ours", "checkpoint_metadata": {}}
    shipped["checkpoint_metadata"] = {"step": 12000, "total_steps": 19400, "train_seconds": 60}
    single = {"checkpoint": "run.pt", "label": "Run", "checkpoint_metadata": {"step": 3000}}
    rows = _training_rows([shipped, single])
    assert "| 19400 |" in rows[2] and "12000" not in rows[2]
    assert "| 3000 |" in rows[3]


def _result(dataset, label, joint_set, f1, model="ours", checkpoint=None, structure=None):
    joints = {"dist": 0.1, "consistency": 0.9, "f1": f1, "prec": f1, "rec": f1, "diff": 2.5}
    joints["f1_half_eps"] = f1 / 2
    return {
        "dataset": dataset,
        "model": model,
        "label": label,
        "checkpoint": checkpoint,
        "structure": structure,
        "split": "test",
        "num_episodes": 1,
        "params": {"epsilon": 0.15, "seed": 0, "link_threshold": 0.5, "joint_set": joint_set},
        "summary": {
            "structure": None if model == "transporter" else {"bcc": 0.7},
            "joints": joints,
        },
        "per_episode": [],
        "checkpoint_metadata": {"config": {"model": {"structure": "search"}}},
    }


def test_report_leads_with_the_per_image_table_of_joint_set_frame(tmp_path):
    from skeleton_perception.training.evaluation.report import build_report

    shipped = "skeleton_perception/weights/default.pt"
    results = [
        _result("cartpoles", "Ours, shipped default", "frame", 0.41, checkpoint=shipped),
        _result("cartpoles", "Ours, shipped default", "structure-frame", 0.99, checkpoint=shipped),
        _result("cartpoles", "Ours, ψ", "frame", 0.98, checkpoint=shipped, structure="psi"),
        _result("cartpoles", "ours", "frame", 0.33, checkpoint="models/cartpoles.pt"),
        _result("cartpoles", "ours", "structure-frame", 0.97, checkpoint="models/cartpoles.pt"),
        _result("cartpoles", "Variant", "frame", 0.96, checkpoint="models/cartpoles-points.pt"),
        _result("cartpoles", "transporter", "frame", 0.52, "transporter", "models/t.pt"),
        _result("cartpoles", "Oracle (supervised, not shipped)", "frame", 0.88, checkpoint="o.pt"),
        _result("cartpoles", "random", "frame", 0.11, "random"),
        _result("swimmers", "random", "structure-frame", 0.95, "random"),
    ]
    text = build_report(results, tmp_path / "R.md", tmp_path, notes="notebook/notes.md")
    start = text.index("## Per image: what the node publishes")
    protocol = text.index("## Per dataset: the paper's protocol")
    assert start < protocol < text.index("## Cartpoles")
    # The summary: at most 15 lines, the per-image F1 of each kind of model, the notes linked.
    summary = text[:start].rstrip().splitlines()
    assert summary[0] == "# Results" and len(summary) <= 15
    assert "Per image, joint F1 on the test splits, Cartpoles:" in summary  # Swimmers: none
    assert "- Ours, shipped default (`weights/default.pt`): 0.41" in summary
    assert "- Ours, per-dataset model (the best row of each dataset): 0.33" in summary
    assert "- Supervised oracle (never shipped: a ceiling): 0.88" in summary
    assert "- Chance: random skeleton: 0.11" in summary
    assert not any("0.96" in line or "0.99" in line for line in summary)
    assert "[notes.md](notebook/notes.md)" in text[:start]
    head = text[start:protocol]
    header, _, *rows = [line for line in head.splitlines() if line.startswith("|")]
    assert header == (
        "| Dataset | Method | Joint F1 ↑ | F1 at ε/2 ↑ | Constcy ↑ | Diff ↓ | S. Bcc ↑ |"
    )
    # The paper's "Ours" row first (Tables II and I), then ours, Transporter, oracle, chance.
    assert rows[0] == "| Cartpoles | Ours (paper, Tables I-II) | 0.84 | n/a | 0.92 | 1.20 | 0.94 |"
    assert rows[1] == (
        "|  | **Ours, shipped default** (`weights/default.pt`, S by search) "
        "| 0.41 | 0.20 | 0.90 | 2.50 | 0.70 |"
    )
    assert rows[2].startswith(
        "|  | Ours, per-dataset model (`models/cartpoles.pt`, S by search) | 0.33 | 0.17 |"
    )
    assert rows[3].startswith("|  | Transporter [11] (our re-implementation) | 0.52 | 0.26 |")
    assert rows[3].endswith("| n/a |")  # no links
    assert rows[4].startswith("|  | *Oracle (supervised, not shipped)* | 0.88 | 0.44 |")
    assert rows[5].startswith("|  | Chance: random skeleton | 0.11 | 0.06 |")
    # No structure-frame, ψ-override or variant row; Swimmers has only structure-frame.
    assert len(rows) == 6
    assert not any(f"| {v:.2f} |" in head for v in (0.99, 0.98, 0.97, 0.96, 0.95))


def test_report_has_the_3d_table_from_eval_3d(tmp_path):
    from skeleton_perception.training.evaluation.report import build_report, depth_section

    assert depth_section(tmp_path) == ""
    err = lambda median: {"n": 10, "median": median, "p90": 2 * median}  # noqa: E731
    (tmp_path / "skeleton3d-swimmers.json").write_text(
        json.dumps(
            {
                "frames": 90,
                "detected": {
                    "valid_fraction": 0.95,
                    "error_3d_vs_joint_mm": err(120.4),
                    "error_2d_at_joint_depth_mm": err(101.0),
                    "error_2d_px": err(9.25),
                },
                "ground_truth_pixels": {
                    "error_3d_vs_joint_mm": err(60.0),
                    "error_3d_vs_surface_mm": err(1.04),
                },
            }
        )
    )
    table = depth_section(tmp_path)
    text = build_report([_result("swimmers", "random", "frame", 0.1, "random")], tmp_path / "R.md",
                        tmp_path, depth=table)  # fmt: skip
    assert text.index("## Per image") < text.index("## In 3D") < text.index("## Swimmers")
    assert "| swimmers | 90 | 120 | 101 (9.2 px) | 60 | 1.0 | 0.950 |" in table.splitlines()


def _look(folder, dataset, look, f1, bcc, border):
    r = _result(dataset, look, "frame", f1)
    r["summary"]["structure"]["bcc"] = bcc
    r["summary"]["joints"]["border_fraction"] = border
    (folder / f"{dataset}-{look}.json").write_text(json.dumps(r))


def test_report_has_the_appearance_table_with_its_bar(tmp_path):
    from skeleton_perception.training.evaluation.appearance import appearance_section
    from skeleton_perception.training.evaluation.report import build_report

    folder = tmp_path / "appearance"
    assert appearance_section(folder) == ""
    folder.mkdir()
    for look, f1, bcc, border in [("plain", 0.6, 0.8, 0.0), ("randomised", 0.5, 0.7, 0.01),
                                  ("appearance", 0.46, 0.63, 0.01)]:  # fmt: skip
        _look(folder, "swimmers", look, f1, bcc, border)
    for look, f1, bcc, border in [("plain", 0.6, 0.8, 0.0), ("randomised", 0.5, 0.7, 0.01),
                                  ("appearance", 0.2, 0.7, 0.3)]:  # fmt: skip
        _look(folder, "cartpoles", look, f1, bcc, border)
    for look, f1, bcc, border in [("plain", 0.5, 0.7, 0.0), ("randomised", 0.5, 0.7, 0.01),
                                  ("appearance", 0.46, 0.63, 0.019)]:  # fmt: skip
        _look(folder, "walkers", look, f1, bcc, border)
    table = appearance_section(folder)
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert rows == [
        "| Cartpoles | 0.60 / 0.50 / 0.20 | 0.33 / 0.40 | 0.80 / 0.70 / 0.70 | 0.87 / 1.00 "
        "| 30.0% | no |",
        "| Swimmers | 0.60 / 0.50 / 0.46 | 0.77 / 0.92 | 0.80 / 0.70 / 0.63 | 0.79 / 0.90 "
        "| 1.0% | no |",
        "| walkers | 0.50 / 0.50 / 0.46 | 0.92 / 0.92 | 0.70 / 0.70 / 0.63 | 0.90 / 0.90 "
        "| 1.9% | yes |",
    ]
    text = build_report([_result("swimmers", "random", "frame", 0.1, "random")], tmp_path / "R.md",
                        tmp_path, appearance=table)  # fmt: skip
    assert text.index("## Per image") < text.index("## Unseen looks") < text.index("## Swimmers")
    _look(folder, "spiders", "textured", 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match=r"spiders-textured\.json: label 'textured'"):
        appearance_section(folder)
