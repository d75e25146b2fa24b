"""Object families: one module per family, each with its own MJCF builder.

A family registers itself: every module of this package that defines ``VARIANTS`` (the
labels it builds, e.g. ``cartpole-3``, ``spider-5legs``, ``walker``) together with
``build(variant, rng)`` and ``num_keypoints(variant)`` is a family, found by
:func:`registry`. :func:`build` dispatches on the label; the datasets
(:mod:`skeleton_perception.training.sim.datasets`) draw their objects from the variants.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

import numpy as np
from skeleton_perception.training.sim.families.base import SimObject


@functools.cache
def registry() -> dict[str, ModuleType]:
    """Variant label -> the family module that builds it (every module with ``VARIANTS``)."""
    table: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for variant in getattr(module, "VARIANTS", ()):
            if variant in table:
                raise RuntimeError(
                    f"object variant {variant!r} is built by both {table[variant].__name__} "
                    f"and {module.__name__}"
                )
            table[variant] = module
    return table


def family_module(variant: str) -> ModuleType:
    """The module that builds ``variant`` (each provides ``build`` and ``num_keypoints``)."""
    table = registry()
    if variant not in table:
        raise ValueError(f"unknown object variant {variant!r}; variants: {', '.join(table)}")
    return table[variant]


def build(variant: str, rng: np.random.Generator) -> SimObject:
    """Builds a random instance of ``variant`` (sizes, colours, background)."""
    return family_module(variant).build(variant, rng)


def num_keypoints(variant: str) -> int:
    """Number of ground-truth joints of ``variant``."""
    return family_module(variant).num_keypoints(variant)
