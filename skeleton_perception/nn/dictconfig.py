"""Dataclass configs stored in checkpoints as plain dicts."""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


def drop_retired(d: dict[str, Any], retired: dict[str, Any], where: str) -> dict[str, Any]:
    """``d`` without the keys of options that were removed, each checked to be inert.

    Checkpoints written before an option was removed still carry it. At the value that
    made it do nothing it is dropped (a debug log line); at any other value the checkpoint
    needs code that no longer exists, and loading it is an error.

    Args:
        d: a config as a plain dict.
        retired: removed key -> its inert value (docs/model.md, "Removed options").
        where: the section, for messages (e.g. "model config").

    Raises:
        ValueError: naming the key, when a removed option is set to anything else.
    """
    kept = dict(d)
    for key, inert in retired.items():
        if key not in kept:
            continue
        value = kept.pop(key)
        if value != inert:
            raise ValueError(
                f"{where} key {key!r} = {value!r}: this option was removed (docs/model.md, "
                f"'Removed options'); only its inert value {inert!r} can be loaded"
            )
        logger.debug("%s: dropped the removed key %r (inert value %r)", where, key, value)
    return kept


class DictConfig:
    """Mixin for dataclass configs: ``to_dict`` and a ``from_dict`` that refuses unknown keys.

    Subclasses set ``config_name`` (used in error messages, e.g. "model config") and
    ``retired``: the keys of removed options with their inert values, which ``from_dict``
    drops (see :func:`drop_retired`).
    """

    config_name: ClassVar[str] = "config"
    retired: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict:
        """Plain dict (safe for ``torch.load(weights_only=True)``)."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def drop_retired(cls, d: dict[str, Any]) -> dict[str, Any]:
        """``d`` without this config's removed keys (:func:`drop_retired`)."""
        return drop_retired(d, cls.retired, cls.config_name)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Builds a config from a dict; unknown keys raise ``ValueError``."""
        d = cls.drop_retired(d)
        unknown = set(d) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.config_name} keys: {sorted(unknown)}")
        return cls(**d)
