"""``skeleton-perception report``: assemble RESULTS.md from evaluation JSON files.

The file opens with a short summary (:func:`summary_section`: per-image joint F1 of each
kind of model on every dataset, and links to the lab notes), then one table over all
datasets of what the node publishes per image (joint set ``frame``): the shipped default,
the per-dataset models, the Transporter, chance and any supervised oracle, next to the
paper's own row; the 3D table of ``eval-3d``; the default under unseen looks
(``<results>/appearance/``, :mod:`.appearance`). Then for each dataset found in
``--results``: our measured numbers, the paper's (Tables I-III), the Transporter baseline
and the chance row side by side; the hardware and training time of every checkpoint; and
the figures written by ``evaluate --figure`` named ``<images>/<dataset>-*.png``. Dated
lab notes live apart, in docs/notebook/ (``--notes`` names the page the summary links to).

Example::

    skeleton-perception report --results results/ --out RESULTS.md \
        --notes docs/notebook/results-notes.md
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from skeleton_perception.training.evaluation import paper, tables
from skeleton_perception.training.evaluation.appearance import appearance_section
from skeleton_perception.training.evaluation.protocol import JOINT_METRICS, STRUCTURE_METRICS

from skeleton_perception.atomic import write_bytes_atomic

ORDER = {"ours": 0, "transporter": 2, "random": 3}
DISPLAY = {
    "ours": "**Ours (measured)**",
    "transporter": "Transporter [11] (measured, our re-implementation)",
    "random": "Chance: random skeleton (measured)",
}


def load_results(folder: str | Path) -> list[dict]:
    """Every evaluation JSON in ``folder`` (files without a ``summary`` are skipped)."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"report: skipping {path}: {err}")
            continue
        if isinstance(data, dict) and "summary" in data and "dataset" in data:
            data["_path"] = str(path)
            out.append(data)
    return out


def row_label(result: dict) -> str:
    """A result's table label, with its non-default protocol choices."""
    label = result.get("label") or result["model"]
    text = DISPLAY.get(label, f"{label} (measured)")
    joint_set = result.get("params", {}).get("joint_set", "frame")
    if joint_set != "frame":
        text += f" [{joint_set} joints]"
    return text


def _duration(seconds) -> str:
    if seconds is None:
        return "n/a"
    seconds = float(seconds)
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest / 60:.1f} min"


def _training_rows(results: list[dict]) -> list[str]:
    lines = [
        "| Method | Checkpoint | Steps | Training time | Training hardware | Eval ms/frame |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        meta = r.get("checkpoint_metadata") or {}
        seconds = next(
            (
                meta[k]
                for k in ("train_seconds", "training_seconds", "elapsed", "wall_seconds")
                if k in meta
            ),
            None,
        )
        # All runs that made the checkpoint (as the time is), else its last run's step.
        steps = next(
            (meta[k] for k in ("total_steps", "step", "steps", "iteration") if k in meta), None
        )
        hardware = meta.get("hardware") or meta.get("device") or "n/a"
        ms = (r.get("evaluation") or {}).get("predict_ms_per_frame")
        lines.append(
            "| "
            + " | ".join(
                [
                    row_label(r),
                    f"`{r.get('checkpoint')}`" if r.get("checkpoint") else "none",
                    str(steps) if steps is not None else "n/a",
                    _duration(seconds) if r.get("checkpoint") else "none",
                    str(hardware) if r.get("checkpoint") else "none",
                    f"{ms:.1f}" if ms is not None else "n/a",
                ]
            )
            + " |"
        )
    return lines


def _spread_rows(results: list[dict]) -> list[str]:
    """Per-episode mean ± std of the headline metrics (how much one episode varies)."""
    import math

    import numpy as np

    def stat(values) -> str:
        v = np.array([x for x in values if x is not None and not math.isnan(x)], float)
        return f"{v.mean():.2f} ± {v.std():.2f} (n={v.size})" if v.size else "n/a"

    lines = [
        "| Method | Joint F1 | Joint Rec | Consistency | Structure Bcc | Structure F1 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        eps = r.get("per_episode") or []
        joint = [e["joints"] for e in eps]
        struct = [e["structure"] for e in eps if e.get("structure")]
        cells = [stat(j.get(k) for j in joint) for k in ("f1", "rec", "consistency")]
        cells += [stat(s.get(k) for s in struct) if struct else "n/a" for k in ("bcc", "f1")]
        lines.append("| " + " | ".join([row_label(r), *cells]) + " |")
    return lines


def _ablation_rows(results: list[dict]) -> list[str]:
    """Table IV: (full model - ablated model) for every ``ours-*`` result, with the paper's."""
    full = next((r for r in results if (r.get("label") or r["model"]) == "ours"), None)
    variants = [r for r in results if str(r.get("label") or "").startswith("ours-")]
    if full is None or not variants:
        return []

    def value(r: dict, column: str):
        part, name = column.split(".")
        block = r["summary"].get(part) or {}
        return block.get(name)

    header = [c.replace("structure.", "S.").replace("joints.", "J.") for c in paper.TABLE4_COLUMNS]
    lines = [
        "### Ablations (Table IV: full model minus ablated model)",
        "",
        "| Ablation | " + " | ".join(header) + " |",
        "|" + "---|" * (len(header) + 1),
    ]
    for r in variants:
        label = r.get("label")
        cells = []
        for c in paper.TABLE4_COLUMNS:
            a, b = value(full, c), value(r, c)
            cells.append(f"{a - b:+.3f}" if a is not None and b is not None else "n/a")
        lines.append(f"| {label} (measured, this dataset) | " + " | ".join(cells) + " |")
        key = label.removeprefix("ours-").replace("-", "_")
        if key in paper.TABLE4:
            ref = paper.TABLE4[key]
            cells = [f"{ref[c]:+.3f}" for c in paper.TABLE4_COLUMNS]
            lines.append(f"| {label} (paper, mean of datasets) | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _paper_ours(rows: dict) -> dict | None:
    """The paper's row for its own model in a table of paper rows (None if absent)."""
    return next((v for k, v in rows.items() if k.startswith("Ours (paper")), None)


def dataset_section(dataset: str, results: list[dict], out_dir: Path, images: Path) -> str:
    """The markdown of one dataset."""
    results = sorted(results, key=lambda r: (ORDER.get(r["model"], 1), row_label(r)))
    first = results[0]
    params = first.get("params", {})
    key = paper.paper_key(dataset)
    name = paper.DISPLAY.get(key, dataset) if key else dataset
    episodes = sorted({r["num_episodes"] for r in results})
    lines = [
        f"## {name}",
        "",
        f"ε = {params.get('epsilon')}, split `{first.get('split')}`, "
        f"{'/'.join(map(str, episodes))} episodes, S from one seeded random frame per "
        f"episode (seed {params.get('seed')}), binarised at {params.get('link_threshold')}.",
        "",
    ]
    paper_rows = paper.paper_rows(dataset)
    measured_structure = {
        row_label(r): r["summary"]["structure"]
        for r in results
        if r["summary"].get("structure") is not None
    }
    ours_s = {k: v for k, v in measured_structure.items() if "Chance" not in k}
    chance_s = {k: v for k, v in measured_structure.items() if "Chance" in k}
    lines += [
        "### Structure (Table I)",
        "",
        tables.markdown_table(
            {**ours_s, **paper_rows["structure"], **chance_s},
            STRUCTURE_METRICS,
            reference=_paper_ours(paper_rows["structure"]),
            marked=[k for k in ours_s if "Ours" in k],
        ),
        "",
        "✓: matches or beats the paper's own row at the table's precision.",
        "",
        "Transporter predicts no links: structure N/A, as in the paper.",
        "",
    ]
    measured_joints = {row_label(r): r["summary"]["joints"] for r in results}
    ours_j = {k: v for k, v in measured_joints.items() if "Ours" in k}
    others_j = {k: v for k, v in measured_joints.items() if "Ours" not in k and "Chance" not in k}
    chance_j = {k: v for k, v in measured_joints.items() if "Chance" in k}
    paper_j = paper_rows["joints"]
    ordered = {
        **ours_j,
        **{k: v for k, v in paper_j.items() if k.startswith("Ours (paper")},
        **others_j,
        **{k: v for k, v in paper_j.items() if not k.startswith("Ours (paper")},
        **chance_j,
    }
    lines += [
        "### Joints (Table II)",
        "",
        tables.markdown_table(
            ordered, JOINT_METRICS, reference=_paper_ours(paper_j), marked=list(ours_j)
        ),
        "",
        *_ablation_rows(results),
        "### Spread over episodes",
        "",
        "Each episode scored alone (mean ± standard deviation over episodes); the tables "
        "above pool all episodes.",
        "",
        *_spread_rows(results),
        "",
        "### Training and hardware",
        "",
        *_training_rows(results),
        "",
    ]
    figures = sorted(images.glob(f"{dataset}-*.png")) if images.exists() else []
    if figures:
        lines += ["### Figures", ""]
        for fig in figures:
            rel = os.path.relpath(fig, out_dir)
            lines += [f"![{fig.stem}]({rel})", ""]
    return "\n".join(lines)


# The per-image table: its columns, and how each row's joints and links were predicted.
HEADLINE_COLUMNS = ("f1", "f1_half_eps", "consistency", "diff", "bcc")
HEADLINE_HEADERS = ("Joint F1 ↑", "F1 at ε/2 ↑", "Constcy ↑", "Diff ↓", "S. Bcc ↑")
STRUCTURE_NAMES = {"psi": "S by ψ", "search": "S by search", "fixed": "fixed joints"}


def _structure_method(result: dict) -> str:
    """How the checkpoint predicted S when evaluated: --structure, else its config's."""
    config = (result.get("checkpoint_metadata") or {}).get("config")
    model = config.get("model") if isinstance(config, dict) else None
    method = result.get("structure") or (model or {}).get("structure") or "psi"
    return STRUCTURE_NAMES.get(method, str(method))


def _headline_role(result: dict) -> tuple[int, str] | None:
    """Where a result goes in the per-image table (order, label), or None if not there.

    Only joint set ``frame`` (what the detector publishes for each image) and only with
    the checkpoint's own structure method: the shipped default, the per-dataset model
    (``models/<dataset>.pt`` or labelled so), the Transporter, chance, and any "Oracle"
    row (supervised: a ceiling, never shipped).
    """
    if result.get("params", {}).get("joint_set", "frame") != "frame":
        return None
    label = str(result.get("label") or "")
    checkpoint = Path(result.get("checkpoint") or "")
    if label.startswith("Oracle"):  # trained on the simulator's labels
        note = "" if "supervised" in label else " (supervised, never shipped)"
        return 4, f"*{label}{note}*"
    if result["model"] == "transporter":
        return 3, "Transporter [11] (our re-implementation)"
    if result["model"] == "random":
        return 5, "Chance: random skeleton"
    if result.get("structure"):  # --structure: not what the checkpoint publishes
        return None
    how = f"`{'/'.join(checkpoint.parts[-2:])}`, {_structure_method(result)}"
    if checkpoint.parts[-2:] == ("weights", "default.pt"):
        return 1, f"**Ours, shipped default** ({how})"
    per_dataset = checkpoint.parts[-2:] == ("models", f"{result['dataset']}.pt")
    if per_dataset or label.startswith("Ours, per-dataset model"):
        return 2, f"Ours, per-dataset model ({how})"
    return None


def headline_rows(results: list[dict]) -> dict[str, list[tuple[int, str, dict]]]:
    """The per-image table's rows by dataset: ``(role, label, metrics)``, in table order.

    Role 0 is the paper's own row (Tables I-II), then the roles of :func:`_headline_role`.
    """
    by_dataset: dict[str, list[tuple[int, str, dict]]] = {}
    for r in results:
        role = _headline_role(r)
        if role is not None:
            metrics = {
                **r["summary"]["joints"],
                "bcc": (r["summary"]["structure"] or {}).get("bcc"),
            }
            by_dataset.setdefault(r["dataset"], []).append((*role, metrics))
    for dataset, rows in by_dataset.items():
        rows.sort(key=lambda row: row[:2])
        key = paper.paper_key(dataset)
        if key in paper.TABLE2_OURS:
            ref = {**paper.TABLE2_OURS[key], "bcc": paper.TABLE1_OURS[key]["bcc"]}
            rows.insert(0, (0, "Ours (paper, Tables I-II)", ref))
    return by_dataset


def headline_section(results: list[dict]) -> str:
    """The per-image table over all datasets (joint set ``frame``), with the paper's row."""
    lines = [
        "## Per image: what the node publishes",
        "",
        "Joint set *frame*: every image's predicted joints scored as the detector publishes",
        "them (the per-dataset sections below also give the paper's *structure-frame*",
        "protocol). Joint F1 at ε and at ε/2 (the same matching, a pair kept only within ε/2),",
        "consistency over whole episodes, Diff = mean |predicted − true joints| per frame,",
        "structure Bcc. The paper's rows (Tables I-II) are its protocol on its data: the",
        "target, not a like-for-like comparison.",
        "",
        "| Dataset | Method | " + " | ".join(HEADLINE_HEADERS) + " |",
        "|" + "---|" * (len(HEADLINE_HEADERS) + 2),
    ]
    by_dataset = headline_rows(results)
    for dataset in sorted(by_dataset):
        key = paper.paper_key(dataset)
        name = paper.DISPLAY.get(key, dataset) if key else dataset
        for i, (_, label, metrics) in enumerate(by_dataset[dataset]):
            cells = [tables.fmt(metrics.get(c), c) for c in HEADLINE_COLUMNS]
            lines.append("| " + " | ".join([name if i == 0 else "", label, *cells]) + " |")
    return "\n".join(lines) + "\n"


# Where the paper's protocol is described, and the paper's ablations (Table IV) quoted.
PROTOCOL = """## Per dataset: the paper's protocol

Every number below was measured by `skeleton-perception evaluate` on held-out test
episodes with the paper's protocol (docs/evaluation.md: matching on whole-episode
trajectories with the Hungarian algorithm, ε per dataset, S from one random frame
binarised at 0.5), next to the paper's published numbers (Tables I-III, marked *paper*)
and a chance row scored by the same code. Measured and published numbers come from
different data (our MuJoCo re-generation, fewer training steps on other hardware): read
the paper rows as the target, not as a like-for-like comparison.
"""


def _ablation_note() -> str:
    """The paper's Table IV averages, as one sentence (from :data:`paper.TABLE4`)."""

    def cells(key: str, columns: tuple[str, ...]) -> str:
        names = {"structure.bcc": "S.Bcc", "joints.f1": "J.F1", "joints.diff": "J.Diff"}
        return ", ".join(f"{names[c]} {paper.TABLE4[key][c]:+g}" for c in columns)

    return (
        "Ablations (paper Table IV, full model minus ablated, averaged over datasets): without\n"
        f"l_uniform: {cells('no_uniform', ('structure.bcc', 'joints.f1'))}; without l_sparse: "
        f"{cells('no_sparse', ('structure.bcc', 'joints.f1', 'joints.diff'))}.\n"
    )


# The summary's rows: the per-image table's roles (see _headline_role), in this order.
SUMMARY_ROLES = {
    0: "The paper (its protocol on its data: the target, not a like-for-like comparison)",
    1: "Ours, shipped default (`weights/default.pt`)",
    2: "Ours, per-dataset model (the best row of each dataset)",
    3: "Transporter [11] (our re-implementation)",
    4: "Supervised oracle (never shipped: a ceiling)",
    5: "Chance: random skeleton",
}


def summary_section(results: list[dict], notes: str | None = None) -> str:
    """The opening of RESULTS.md: title, what was measured, per-image joint F1 by model.

    Every number comes from the per-image table (:func:`headline_rows`); for a role with
    several rows on one dataset (e.g. two per-dataset models) the highest is given.

    Args:
        results: the evaluation results.
        notes: path (relative to RESULTS.md) of the lab notes the summary links to.
    """
    rows = headline_rows(results)
    datasets = sorted(rows)
    names = [
        paper.DISPLAY.get(paper.paper_key(d), d) if paper.paper_key(d) else d for d in datasets
    ]
    lines = [
        "# Results",
        "",
        "Generated by `skeleton-perception report` from `results/*.json` (`skeleton-perception",
        "evaluate` on held-out test episodes, the paper's protocol: "
        "[docs/evaluation.md](docs/evaluation.md)).",
        "Per image, joint F1 on the test splits, " + " / ".join(names) + ":",
        "",
    ]
    for role, label in SUMMARY_ROLES.items():
        cells = []
        for d in datasets:
            values = [m.get("f1") for r, _, m in rows[d] if r == role and m.get("f1") is not None]
            cells.append(tables.fmt(max(values)) if values else "n/a")
        if any(c != "n/a" for c in cells):
            lines.append(f"- {label}: " + " / ".join(cells))
    lines.append("")
    where = f"[{Path(notes).name}]({notes})" if notes else "docs/notebook/"
    lines += [
        "Every metric is in the tables below. How each model came about, what was tried and",
        f"what limits the scores: the lab notes ({where}) and [docs/model.md](docs/model.md).",
    ]
    return "\n".join(lines) + "\n"


def depth_section(folder: str | Path) -> str:
    """The 3D table from ``skeleton3d-*.json`` (``skeleton-perception eval-3d``); "" if none."""
    rows = []
    for path in sorted(Path(folder).glob("skeleton3d-*.json")):
        d = json.loads(path.read_text())
        det, gt = d["detected"], d["ground_truth_pixels"]
        rows.append(
            f"| {path.stem.removeprefix('skeleton3d-')} | {d['frames']} "
            f"| {det['error_3d_vs_joint_mm']['median']:.0f} "
            f"| {det['error_2d_at_joint_depth_mm']['median']:.0f} "
            f"({det['error_2d_px']['median']:.1f} px) "
            f"| {gt['error_3d_vs_joint_mm']['median']:.0f} "
            f"| {gt['error_3d_vs_surface_mm']['median']:.1f} "
            f"| {det['valid_fraction']:.3f} |"
        )
    if not rows:
        return ""
    return "\n".join([
        "## In 3D: `skeleton_3d` on `sim_camera`'s depth",
        "",
        "Median errors in mm over matched joint-frames (the evaluation's matching), from",
        "`skeleton-perception eval-3d` (command and all quantiles in the JSON). The true",
        "joints lie inside the bodies, where no depth camera sees: ground-truth pixels put",
        "through the same deprojection land on the visible surface (last error column) about",
        "one body radius in front of the joint, so the detected joints' 3D error is",
        "dominated by their 2D error (column 4, the pixel error at the joint's depth).",
        "",
        "| Dataset | Frames | Detected joints vs true joint | Their 2D error at that depth "
        "| True pixels vs true joint | True pixels vs seen surface | Joints with depth |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])  # fmt: skip


def build_report(
    results: list[dict],
    out: Path,
    images: Path,
    notes: str | None = None,
    depth: str = "",
    appearance: str = "",
) -> str:
    """The whole markdown document.

    The summary (linking to ``notes``, a path relative to ``out``), the per-image table,
    ``depth`` (:func:`depth_section`), ``appearance`` (:func:`.appearance.appearance_section`),
    then the paper's protocol and one section per dataset.
    """
    by_dataset: dict[str, list[dict]] = {}
    for r in results:
        by_dataset.setdefault(r["dataset"], []).append(r)
    sections = [summary_section(results, notes), headline_section(results)]
    sections += [s for s in (depth, appearance) if s]
    sections.append(PROTOCOL + "\n" + _ablation_note())
    for dataset in sorted(by_dataset):
        sections.append(dataset_section(dataset, by_dataset[dataset], out.parent, images))
    return "\n".join(sections).rstrip() + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``report``."""
    parser.add_argument("--results", default="results", help="folder of evaluation JSONs")
    parser.add_argument("--out", default="RESULTS.md", help="markdown file to write")
    parser.add_argument("--images", default="docs/images", help="folder of figures")
    parser.add_argument(
        "--notes",
        help="the lab notes (markdown) that the summary links to, e.g. "
        "docs/notebook/results-notes.md; they stay in their own file",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception report``."""
    results = load_results(args.results)
    if not results:
        print(f"report: no evaluation JSON in {args.results}")
        return 1
    out = Path(args.out)
    notes = None
    if args.notes:
        if not Path(args.notes).is_file():
            print(f"report: --notes {args.notes}: no such file")
            return 1
        notes = Path(os.path.relpath(Path(args.notes).resolve(), out.resolve().parent)).as_posix()
    images = Path(args.images).resolve()
    appearance = appearance_section(Path(args.results) / "appearance")
    text = build_report(
        results, out.resolve(), images, notes, depth_section(args.results), appearance
    )
    write_bytes_atomic(out, text.encode())
    print(f"report: {out} ({len(results)} result files)")
    return 0
