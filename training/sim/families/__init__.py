"""Object families: one module per family, each with its own MJCF builder.

A variant label names a family member: ``spider-5legs``, ``cartpole-3``, ``swimmer-4``,
``walker``, ``hopper``, ``cheetah``, ``manipulator``. :func:`build` dispatches on it.
"""

from __future__ import annotations

import importlib

import numpy as np
from skeleton_perception.training.sim.families.base import SimObject

# variant prefix -> module that builds it
_MODULES = {
    "spider": "skeleton_perception.training.sim.families.spiders",
    "cartpole": "skeleton_perception.training.sim.families.cartpoles",
    "swimmer": "skeleton_perception.training.sim.families.swimmers",
    "walker": "skeleton_perception.training.sim.families.mwhc",
    "hopper": "skeleton_perception.training.sim.families.mwhc",
    "cheetah": "skeleton_perception.training.sim.families.mwhc",
    "manipulator": "skeleton_perception.training.sim.families.mwhc",
}


def family_module(variant: str):
    """The module that builds ``variant`` (each provides ``build`` and ``num_keypoints``)."""
    prefix = variant.split("-")[0]
    if prefix not in _MODULES:
        raise ValueError(f"unknown object variant {variant!r}; families: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[prefix])


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds a random instance of ``variant`` (sizes, colours, background)."""
    return family_module(variant).build(variant, rng)


def num_keypoints(variant: str) -> int:
    """Number of ground-truth joints of ``variant``."""
    return family_module(variant).num_keypoints(variant)
