"""The paper's five synthetic datasets: which objects each split holds, and their seeds.

Each episode's object variant is drawn uniformly from its split's variants, and every
random choice of an episode comes from one generator seeded by
:func:`episode_seed` ``(dataset, split, index)``, so any episode can be regenerated alone.
The ``appearance`` split holds the test split's objects in a held-out look
(:data:`.appearance.HELDOUT`: textures, colours, camera and light ranges that no other
split uses); the ``appearance-val`` split holds the val split's objects in a third look
(:data:`.appearance.VALIDATION`), for choosing between models on unseen looks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
from skeleton_perception.training.sim import families
from skeleton_perception.training.sim.appearance import HELDOUT, VALIDATION
from skeleton_perception.training.sim.episode import Episode, EpisodeConfig, render_episode
from skeleton_perception.training.sim.families import cartpoles, mwhc, spiders, swimmers

SPLITS = ("train", "val", "test", "appearance", "appearance-val")
APPEARANCE_SPLIT = "appearance"
APPEARANCE_VAL_SPLIT = "appearance-val"

_SPIDERS_SEEN = ("spider-3legs", "spider-6legs", "spider-7legs", "spider-8legs")
_SPIDERS_UNSEEN = ("spider-4legs", "spider-5legs")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its object variants per split and its evaluation threshold.

    Attributes:
        name: Dataset name, e.g. ``"cartpoles"``.
        epsilon: Joint-matching distance threshold of the paper's metric, in normalised
            ``[-1, 1]`` image coordinates.
        train: Object variants of the train and validation splits.
        test: Object variants of the test split.
        max_joints: Largest number of ground-truth joints of any object in the dataset.
    """

    name: str
    epsilon: float
    train: tuple[str, ...]
    test: tuple[str, ...]

    @property
    def max_joints(self) -> int:
        """Largest number of ground-truth joints of any variant (all splits)."""
        return max(families.num_keypoints(v) for v in set(self.train) | set(self.test))

    def variants(self, split: str) -> tuple[str, ...]:
        """Object variants of ``split`` (one of :data:`SPLITS`).

        ``appearance`` holds the test split's objects, ``appearance-val`` the val split's.
        """
        if split not in SPLITS:
            raise ValueError(f"{self.name}: unknown split {split!r}; choose from {SPLITS}")
        return self.train if split in ("train", "val", APPEARANCE_VAL_SPLIT) else self.test

    def episode(self, split: str, index: int, config: EpisodeConfig, base_seed: int = 0) -> Episode:
        """Generates episode ``index`` of ``split`` (deterministic).

        The ``appearance`` split always renders with :data:`.appearance.HELDOUT`, whatever
        ``config.appearance`` says.
        """
        if split == APPEARANCE_SPLIT:
            config = replace(config, appearance=HELDOUT)
        elif split == APPEARANCE_VAL_SPLIT:
            config = replace(config, appearance=VALIDATION)
        seed = episode_seed(self.name, split, index, base_seed)
        rng = np.random.default_rng(seed)
        variants = self.variants(split)
        variant = variants[rng.integers(len(variants))]
        for _attempt in range(10):  # a diverged simulation redraws from the same stream
            obj = families.build(variant, rng)
            try:
                return render_episode(obj, rng, config, seed=seed, index=index)
            except FloatingPointError:
                continue
        raise RuntimeError(f"{self.name}/{split}/{index}: simulation kept diverging")


DATASETS: dict[str, DatasetSpec] = {
    "spiders": DatasetSpec("spiders", 0.20, spiders.VARIANTS, spiders.VARIANTS),
    "cartpoles": DatasetSpec("cartpoles", 0.15, cartpoles.VARIANTS, cartpoles.VARIANTS),
    "swimmers": DatasetSpec("swimmers", 0.20, swimmers.VARIANTS, swimmers.VARIANTS),
    "mwhc": DatasetSpec("mwhc", 0.30, mwhc.VARIANTS, mwhc.VARIANTS),
    "spiders0shot": DatasetSpec("spiders0shot", 0.20, _SPIDERS_SEEN, _SPIDERS_UNSEEN),
}


def get_dataset(name: str) -> DatasetSpec:
    """The dataset called ``name`` (a key of :data:`DATASETS`)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None


def episode_seed(dataset: str, split: str, index: int, base_seed: int = 0) -> int:
    """A 63-bit seed derived from ``(dataset, split, index, base_seed)`` alone."""
    digest = hashlib.sha256(f"{dataset}/{split}/{index}/{base_seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
