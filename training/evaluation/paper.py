"""The paper's published numbers (Anciukevičius, Henderson, Bilen), Tables I-IV and ε.

Transcribed by hand from ``../shared/reference/000_f2d54f2fbcaf958f.txt``; keys are the
metric names used by :mod:`skeleton_perception.training.evaluation.protocol`.

* Table I: structure, "Ours" and Li et al. [28].
* Table II: joints, "Ours" and Kulkarni et al. [11] (Transporter).
* Table III: our model with a spatial softmax [32] instead of the categorical point
  representation (structure and joints; no Spiders 0-Shot row in the paper).
* Table IV: ablations of ℓ_uniform and ℓ_sparse, as (full model - ablated model) averaged
  over all datasets (the paper gives no per-dataset numbers).
"""

from __future__ import annotations

import re

STRUCTURE = ("acc", "bcc", "f1", "prec", "rec")
JOINTS = ("dist", "consistency", "f1", "prec", "rec", "diff")

# Paper Sec. VIII: ε per dataset (normalised [-1, 1] units).
EPSILON = {
    "spiders": 0.20,
    "spiders0shot": 0.20,
    "human36m": 0.30,
    "swimmers": 0.20,
    "mwhc": 0.30,
    "cartpoles": 0.15,
}

DISPLAY = {
    "spiders": "Spiders",
    "cartpoles": "Cartpoles",
    "mwhc": "M+W+H+C",
    "swimmers": "Swimmers",
    "human36m": "Human3.6M",
    "spiders0shot": "Spiders 0-Shot",
}

_ALIASES = {
    "cartpole": "cartpoles",
    "spider": "spiders",
    "swimmer": "swimmers",
    "spiderszeroshot": "spiders0shot",
    "spiders0": "spiders0shot",
    "whcm": "mwhc",
    "walkerhoppercheetahmanipulator": "mwhc",
    "mwhc": "mwhc",
    "h36m": "human36m",
}


def paper_key(name: str) -> str | None:
    """Our dataset name -> the paper's table row key, or None if the paper has no row."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = _ALIASES.get(key, key)
    return key if key in DISPLAY else None


def _rows(names: tuple[str, ...], table: dict[str, tuple[float, ...]]) -> dict[str, dict]:
    return {k: dict(zip(names, v, strict=True)) for k, v in table.items()}


# Table I, "Ours": Acc, Bcc, F1, Prec, Rec.
TABLE1_OURS = _rows(
    STRUCTURE,
    {
        "spiders": (0.67, 0.55, 0.22, 0.16, 0.38),
        "cartpoles": (0.95, 0.94, 0.93, 0.99, 0.87),
        "mwhc": (0.72, 0.58, 0.35, 0.39, 0.32),
        "swimmers": (0.89, 0.89, 0.85, 0.89, 0.82),
        "human36m": (0.85, 0.58, 0.27, 0.33, 0.23),
        "spiders0shot": (0.77, 0.62, 0.37, 0.34, 0.40),
    },
)

# Table I, Li et al. [28].
TABLE1_LI = _rows(
    STRUCTURE,
    {
        "spiders": (0.40, 0.51, 0.21, 0.13, 0.66),
        "cartpoles": (0.56, 0.56, 0.47, 0.41, 0.54),
        "mwhc": (0.58, 0.50, 0.26, 0.21, 0.35),
        "swimmers": (0.55, 0.50, 0.38, 0.42, 0.36),
        "human36m": (0.22, 0.51, 0.21, 0.12, 0.89),
        "spiders0shot": (0.51, 0.55, 0.34, 0.23, 0.63),
    },
)

# Table II, "Ours": Dist, Constcy, F1, Prec, Rec, Diff.
TABLE2_OURS = _rows(
    JOINTS,
    {
        "spiders": (0.083, 0.91, 0.87, 0.89, 0.85, 4.3),
        "cartpoles": (0.086, 0.92, 0.84, 0.86, 0.82, 1.2),
        "mwhc": (0.133, 1.0, 0.89, 0.98, 0.82, 1.5),
        "swimmers": (0.066, 0.96, 0.90, 0.96, 0.85, 0.9),
        "human36m": (0.180, 1.0, 0.9, 0.9, 0.9, 0.1),
        "spiders0shot": (0.090, 0.98, 0.70, 0.91, 0.57, 5.4),
    },
)

# Table II, Kulkarni et al. [11] (Transporter), K = the dataset's maximum number of joints.
TABLE2_KULKARNI = _rows(
    JOINTS,
    {
        "spiders": (0.270, 0.71, 0.33, 0.32, 0.33, 4.4),
        "cartpoles": (0.126, 0.70, 0.72, 0.63, 0.85, 1.9),
        "mwhc": (0.143, 0.71, 0.91, 0.84, 0.99, 1.5),
        "swimmers": (0.083, 0.72, 0.87, 0.77, 0.98, 1.4),
        "human36m": (0.226, 1.0, 0.86, 0.86, 0.86, 0.0),
        "spiders0shot": (0.240, 0.52, 0.47, 0.44, 0.51, 2.5),
    },
)

# Table III, spatial-softmax ablation: structure part.
TABLE3_STRUCTURE = _rows(
    STRUCTURE,
    {
        "spiders": (0.76, 0.51, 0.16, 0.13, 0.19),
        "cartpoles": (0.75, 0.72, 0.72, 0.72, 0.72),
        "mwhc": (0.53, 0.42, 0.20, 0.19, 0.20),
        "swimmers": (0.32, 0.50, 0.49, 0.32, 1.00),
        "human36m": (0.85, 0.52, 0.12, 0.20, 0.09),
    },
)

# Table III, spatial-softmax ablation: keypoint part.
TABLE3_JOINTS = _rows(
    JOINTS,
    {
        "spiders": (0.410, 0.89, 0.15, 0.16, 0.15, 4.7),
        "cartpoles": (0.120, 1.00, 0.67, 0.76, 0.60, 1.3),
        "mwhc": (0.145, 1.00, 0.69, 0.98, 0.53, 3.9),
        "swimmers": (0.078, 1.00, 0.53, 0.96, 0.36, 3.3),
        "human36m": (0.305, 0.89, 0.54, 0.45, 0.66, 8.0),
    },
)

# Table IV: full model minus ablated model, averaged over all datasets.
# Columns: S.Acc S.Bcc S.F1 S.Prec S.Rec J.Dist J.Constcy J.F1 J.Prec J.Rec J.Diff.
TABLE4_COLUMNS = tuple(f"structure.{m}" for m in STRUCTURE) + tuple(f"joints.{m}" for m in JOINTS)
TABLE4 = {
    "no_uniform": dict(
        zip(
            TABLE4_COLUMNS,
            (0.09, 0.064, 0.066, 0.132, -0.026, -0.0054, -0.018, 0.104, 0.01, 0.158, -0.94),
            strict=True,
        )
    ),
    "no_sparse": dict(
        zip(
            TABLE4_COLUMNS,
            (0.13, 0.112, 0.166, 0.06, 0.206, -0.0072, 0.258, 0.152, 0.27, -0.05, -6.56),
            strict=True,
        )
    ),
}


def paper_rows(dataset: str) -> dict[str, dict[str, dict | None]]:
    """The paper's rows for one of our datasets, by method label.

    Returns:
        ``{"structure": {label: metrics}, "joints": {label: metrics}}``; empty dicts when
        the paper has no row for the dataset.
    """
    key = paper_key(dataset)
    if key is None:
        return {"structure": {}, "joints": {}}
    structure = {
        "Ours (paper, Table I)": TABLE1_OURS.get(key),
        "Li et al. [28] (paper, Table I)": TABLE1_LI.get(key),
        "Ours w/ spatial softmax (paper, Table III)": TABLE3_STRUCTURE.get(key),
    }
    joints = {
        "Ours (paper, Table II)": TABLE2_OURS.get(key),
        "Kulkarni et al. [11] (paper, Table II)": TABLE2_KULKARNI.get(key),
        "Ours w/ spatial softmax (paper, Table III)": TABLE3_JOINTS.get(key),
    }
    return {
        "structure": {k: v for k, v in structure.items() if v is not None},
        "joints": {k: v for k, v in joints.items() if v is not None},
    }
