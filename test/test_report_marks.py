"""RESULTS.md marks with ✓ the cells where our measured row matches or beats the paper."""

from __future__ import annotations

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
