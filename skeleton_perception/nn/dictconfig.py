"""Dataclass configs stored in checkpoints as plain dicts."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar


class DictConfig:
    """Mixin for dataclass configs: ``to_dict`` and a ``from_dict`` that refuses unknown keys.

    Subclasses set ``config_name`` (used in error messages, e.g. "model config").
    """

    config_name: ClassVar[str] = "config"

    def to_dict(self) -> dict:
        """Plain dict (safe for ``torch.load(weights_only=True)``)."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Builds a config from a dict; unknown keys raise ``ValueError``."""
        unknown = set(d) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.config_name} keys: {sorted(unknown)}")
        return cls(**d)
