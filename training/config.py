"""Training configuration: typed dataclasses, YAML files, ``--set key=value`` overrides.

A YAML file holds any subset of :class:`TrainConfig`'s fields, nested sections for
``model`` (:class:`~skeleton_perception.nn.ModelConfig`) and ``loss``
(:class:`~skeleton_perception.training.losses.LossConfig`). Overrides use dotted keys
and YAML values: ``--set loss.recon=5 model.num_points=16 lr=0.002``. Unknown keys and
values of the wrong type are errors naming the key. Keys of removed options (docs/model.md,
"Removed options"), which old checkpoints and files still carry, are dropped at their inert
value and an error at any other (:func:`drop_retired`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from skeleton_perception.atomic import atomic_path
from skeleton_perception.nn import dictconfig
from skeleton_perception.nn.model import ModelConfig
from skeleton_perception.nn.structure_search import SearchConfig

from .losses import LossConfig

TRAIN_MODULES = ("pi", "psi", "background")
PRECISIONS = ("fp32", "bf16")
# removed loss options -> their inert values (ℓ_rigid, ψ trained on searched graphs)
RETIRED_LOSS = {"rigid": 0.0, "psi_target": "losses", "search": 1.0, "search_pos_weight": 5.0}


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data.

    Attributes:
        dataset: name of the dataset the weights were chosen for (informational).
        model: architecture.
        loss: loss weights and hyperparameters.
        steps: training iterations (batches).
        batch_size: pairs per step (8 in the paper); with several processes the global
            batch, split evenly among them.
        lr: Adam learning rate (the paper: 0.005; 0.001 is what learns on CPU).
        betas: Adam betas.
        grad_clip_norm: max gradient norm (0 disables).
        grad_clip_value: max absolute gradient value (0 disables).
        ramp_steps: ℓ_uniform / ℓ_sparse weights rise linearly over this many steps
            (10K in the paper) ...
        ramp_fraction: ... but over at most this fraction of ``steps`` in short runs.
        tau_final: Gumbel temperature reached at the last step (linear in log tau
            from ``model.gumbel_tau``); None keeps it fixed.
        min_gap: minimum frame distance between the images of a pair.
        seed: seeds torch, the pair sampling and the model initialisation.
        threads: torch CPU threads (0 leaves torch's default); under torchrun the
            processes of one machine share them (``threads // LOCAL_WORLD_SIZE``, >= 1).
        device: where the model trains: auto (CUDA when available), cpu, cuda or
            cuda:N. The data is loaded on the CPU either way. Under torchrun with several
            processes, auto / cuda mean cuda:LOCAL_RANK (docs/training.md).
        precision: "fp32", or "bf16": the forward pass under ``torch.autocast`` in
            bfloat16 (GPUs; on a CPU it works too, slower without bf16 hardware), the
            losses, gradients, weights and Adam in float32.
        sync_batchnorm: with several processes (torchrun), BatchNorm statistics over the
            global batch (True) or over each process's share of it (False).
        log_every: steps between CSV log rows.
        plot_every: steps between plot updates.
        ckpt_every: steps between checkpoints (at most this many are lost on a kill).
        num_samples: pairs shown in the sample plot.
        train_modules: the modules the optimiser updates, any of "pi", "psi",
            "background". The others are frozen: no gradient, no Adam state, and kept in
            eval mode (BatchNorm uses and keeps its running statistics). ``[psi]`` is the
            skeleton stage: ψ fine-tuned on the points of a trained π (docs/model.md).
        reinit_modules: modules given fresh (seeded) weights after ``--init`` loads the
            checkpoint, e.g. ``[psi]`` to retrain a saturated ψ from scratch.
    """

    dataset: str = "cartpoles"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    steps: int = 3000
    batch_size: int = 8
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip_norm: float = 1.0
    grad_clip_value: float = 1.0
    ramp_steps: int = 10000
    ramp_fraction: float = 0.3
    tau_final: float | None = None
    min_gap: int = 1
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    precision: str = "fp32"
    sync_batchnorm: bool = True
    log_every: int = 10
    plot_every: int = 250
    ckpt_every: int = 250
    num_samples: int = 4
    train_modules: list[str] = field(default_factory=lambda: list(TRAIN_MODULES))
    reinit_modules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain nested dict (YAML- and ``weights_only``-safe: tuples become lists)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Builds a config from a (possibly partial) nested dict (old ones too)."""
        cfg = cls()
        for key, value in flatten(drop_retired(d)):
            set_value(cfg, key, value)
        return cfg


def drop_retired(d: dict) -> dict:
    """A config dict without the keys of removed options, each checked to be inert.

    ``loss.near`` was ℓ_near's weight in training beside ``model.search.near`` in the
    search; ``model.search.near`` is now the one weight, so an old ``loss.near`` must equal
    it.

    Raises:
        ValueError: naming the key whose value needs a removed option.
    """
    d = dict(d)
    if isinstance(d.get("model"), dict):
        d["model"] = ModelConfig.drop_retired(d["model"])
    if isinstance(d.get("loss"), dict):
        loss = dictconfig.drop_retired(d["loss"], RETIRED_LOSS, "loss config")
        if "near" in loss:
            near = loss.pop("near")
            search = (d.get("model") or {}).get("search") or {}
            weight = search.get("near", SearchConfig.near)
            if near != weight:
                raise ValueError(
                    f"loss config key 'near' = {near!r}: ℓ_near has one weight now, "
                    f"model.search.near (here {weight!r}); set that instead"
                )
        d["loss"] = loss
    return d


def retired_keys() -> dict[str, str]:
    """Dotted keys of removed options -> what to do instead (for ``--set`` errors)."""
    keys = {f"model.{k}": "removed with the pairwise ψ head" for k in ModelConfig.retired}
    keys.update({f"model.search.{k}": "ℓ_rigid was removed" for k in SearchConfig.retired})
    keys.update({f"loss.{k}": "removed" for k in RETIRED_LOSS})
    keys["loss.near"] = "ℓ_near's one weight is model.search.near"
    return keys


def flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dict -> [("a.b.c", value), ...] (the dotted keys of :func:`set_value`)."""
    items = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            items += flatten(v, key + ".")
        else:
            items.append((key, v))
    return items


def _coerce(key: str, value, hint):
    """Checks/converts ``value`` to the annotated type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ValueError(f"config {key}: expected a list, got {value!r}")
        return [_coerce(key, v, args[0]) for v in value]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ValueError(f"config {key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config {key}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config {key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"config {key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"config {key}: expected a string, got {value!r}")
        return value
    raise ValueError(f"config {key}: unsupported type {hint}")


def set_value(cfg: object, key: str, value) -> None:
    """Sets dotted ``key`` (e.g. "loss.recon") on a config tree, type-checked."""
    retired = retired_keys()
    if key in retired:
        raise ValueError(f"config {key}: no longer an option ({retired[key]}; docs/model.md)")
    obj = cfg
    parts = key.split(".")
    for name in parts[:-1]:
        if not dataclasses.is_dataclass(obj) or name not in {
            f.name for f in dataclasses.fields(obj)
        }:
            raise ValueError(f"config {key}: unknown section {name!r}")
        obj = getattr(obj, name)
    name = parts[-1]
    hints = typing.get_type_hints(type(obj))
    if not dataclasses.is_dataclass(obj) or name not in hints:
        raise ValueError(f"config {key}: unknown key")
    if dataclasses.is_dataclass(hints[name]):
        raise ValueError(f"config {key}: is a section; set its keys ({key}.<name>)")
    setattr(obj, name, _coerce(key, value, hints[name]))


def parse_override(text: str) -> tuple[str, object]:
    """``"loss.recon=5"`` -> ("loss.recon", 5) with the value parsed as YAML."""
    if "=" not in text:
        raise ValueError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple = ()) -> TrainConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, validated."""
    data = {}
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"config file {path}: {e}") from e
        if not isinstance(data, dict):
            raise ValueError(f"config file {path}: expected a mapping at the top level")
    try:
        cfg = TrainConfig.from_dict(data)
    except ValueError as e:
        raise ValueError(f"config file {path}: {e}") from e
    for text in overrides:
        set_value(cfg, *parse_override(text))
    ModelConfig.from_dict(cfg.model.to_dict())  # re-run validation after overrides
    if not cfg.train_modules or set(cfg.train_modules) - set(TRAIN_MODULES):
        raise ValueError(
            f"config train_modules: expected a non-empty subset of {list(TRAIN_MODULES)}, "
            f"got {cfg.train_modules!r}"
        )
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"config precision: expected one of {PRECISIONS}, got {cfg.precision!r}")
    if set(cfg.reinit_modules) - set(TRAIN_MODULES):
        raise ValueError(
            f"config reinit_modules: expected a subset of {list(TRAIN_MODULES)}, "
            f"got {cfg.reinit_modules!r}"
        )
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Writes the config as YAML (atomically)."""
    with atomic_path(path, suffix=".yaml") as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
