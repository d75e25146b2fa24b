"""Inference-only copies of a network: the same outputs, less work per image.

    fast = optimize_for_inference(model, example=lambda m: m.predict(x))
    fast.predict(x)   # equal to model.predict(x) up to float rounding (~1e-6 relative)

Generic: nothing here knows the layers of π or ψ. :func:`optimize_for_inference` walks
the modules of a deep copy and

1. folds every BatchNorm that directly follows a convolution in an ``nn.Sequential``
   (or a subclass) into that convolution's weight and bias (eval mode: the running
   statistics are constants), replacing the BatchNorm with a :class:`Folded` identity;
2. on the CPU with oneDNN (float32), replaces each ``nn.Conv2d`` with a
   :class:`PackedConv2d`: its weight reordered once into oneDNN's blocked layout instead
   of on every call, channels-last activations, and the ``ReLU`` / ``LeakyReLU`` that
   follows it in the same ``nn.Sequential`` fused into the convolution (the activation
   module becomes a :class:`Folded` identity). Every packed convolution is checked against
   the plain one on its recorded input before it is kept; a convolution that fails the
   check, or a PyTorch build without the oneDNN operators, keeps the plain (folded)
   convolution;
3. with an ``example``, drops the :class:`Folded` placeholders from containers that use
   ``nn.Sequential``'s own forward (one module call less each), unless the example's
   outputs then change at all (code that indexes into a container by position).

Training-only work needs nothing here: the copy is in eval mode with gradients off, and
the model's own inference path (``predict``) already skips sampling and the background.
The copy is for inference only (no gradients through packed convolutions).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Activations that oneDNN can fuse into a convolution: module type -> (attr, scalars).
_FUSABLE: dict[type[nn.Module], Callable[[nn.Module], tuple[str, list[float]]]] = {
    nn.ReLU: lambda m: ("relu", []),
    nn.LeakyReLU: lambda m: ("leaky_relu", [float(m.negative_slope)]),
}

# A packed convolution is kept when max |packed - plain| <= PACK_RTOL * max(1, max |plain|).
PACK_RTOL = 1e-4


class Folded(nn.Identity):
    """Placeholder for a layer folded or fused into the convolution before it."""


# ----------------------------------------------------------------- BatchNorm folding


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    """Whether ``bn`` (right after ``conv``) can be folded into ``conv``."""
    pairs = (
        (nn.Conv1d, nn.BatchNorm1d),
        (nn.Conv2d, nn.BatchNorm2d),
        (nn.Conv3d, nn.BatchNorm3d),
    )
    return (
        any(type(conv) is c and isinstance(bn, b) for c, b in pairs)
        and bn.running_mean is not None
        and bn.running_var is not None
        and bn.num_features == conv.out_channels
    )


@torch.no_grad()
def fold_conv_batchnorm(conv: nn.Module, bn: nn.Module) -> None:
    """Folds eval-mode ``bn`` into ``conv`` in place: conv(x) then bn == the new conv(x).

    W' = W * g / sqrt(v + eps) per output channel, b' = (b - m) * g / sqrt(v + eps) + beta,
    computed in float64 and stored in the convolution's dtype.

    Args:
        conv: an ``nn.Conv1d/2d/3d`` (not transposed); gains a bias if it had none.
        bn: the ``nn.BatchNorm1d/2d/3d`` applied to its output, with running statistics.
    """
    w = conv.weight
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    if conv.bias is not None:
        shift = shift + conv.bias.double() * scale
    shape = (-1,) + (1,) * (w.dim() - 1)
    conv.weight = nn.Parameter(
        (w.double() * scale.reshape(shape)).to(w.dtype), requires_grad=w.requires_grad
    )
    conv.bias = nn.Parameter(shift.to(w.dtype), requires_grad=w.requires_grad)


def _sequentials(module: nn.Module) -> list[nn.Sequential]:
    return [m for m in module.modules() if isinstance(m, nn.Sequential)]


def fold_batchnorm(module: nn.Module) -> int:
    """Folds every convolution + BatchNorm pair inside ``nn.Sequential`` containers.

    Works in place on ``module`` (use it on an eval-mode copy: the folded network no
    longer updates running statistics). The BatchNorm is replaced by :class:`Folded` (an
    ``nn.Identity``) so the container's indices and forward are unchanged.

    Returns:
        How many BatchNorm layers were folded.
    """
    folded = 0
    for seq in _sequentials(module):
        names = list(seq._modules)
        for a, b in itertools.pairwise(names):
            conv, bn = seq._modules[a], seq._modules[b]
            if conv is not None and bn is not None and _foldable(conv, bn):
                fold_conv_batchnorm(conv, bn)
                seq._modules[b] = Folded()
                folded += 1
    return folded


# -------------------------------------------------------------- packed convolutions


def packing_available() -> bool:
    """Whether this PyTorch build has the oneDNN convolution operators used here."""
    try:
        return (
            torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_reorder_convolution_weight")
        )
    except (AttributeError, RuntimeError):
        return False


def _packable(conv: nn.Module) -> bool:
    return (
        type(conv) is nn.Conv2d
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and conv.weight.device.type == "cpu"
        and conv.weight.dtype == torch.float32
    )


class PackedConv2d(nn.Module):
    """A 2-D convolution (+ optional fused activation) with a prepacked oneDNN weight.

    Computes ``activation(conv(x))`` with ``torch.ops.mkldnn._convolution_pointwise`` on
    channels-last input. Inputs it cannot take (not float32 on the CPU, unbatched, or
    needing gradients) run the plain ``F.conv2d`` and activation instead, with the same
    result.

    Args:
        conv: the convolution (zero padding, numeric padding, float32 on the CPU).
        activation: ``nn.ReLU`` or ``nn.LeakyReLU`` to fuse, or None.
        input_size: the (N, C, H, W) input it will see, a hint for the weight layout.
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        activation: nn.Module | None = None,
        input_size: list[int] | None = None,
    ):
        super().__init__()
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.stride = list(conv.stride)
        self.padding = list(conv.padding)
        self.dilation = list(conv.dilation)
        self.groups = int(conv.groups)
        self.register_buffer("weight", conv.weight.detach().clone())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.attr, self.scalars = "none", []
        if activation is not None:
            self.attr, self.scalars = _FUSABLE[type(activation)](activation)
        self.input_size = None if input_size is None else list(input_size)
        # A plain attribute, not a buffer: ``.to()``/``.half()`` must not touch the opaque
        # oneDNN tensor (inputs it does not fit fall back to ``weight``).
        self.packed = self._pack()

    def _pack(self) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_convolution_weight(
            self.weight, self.padding, self.stride, self.dilation, self.groups, self.input_size
        )

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The plain computation: ``F.conv2d`` then the activation."""
        y = F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
        if self.attr == "relu":
            return F.relu(y)
        if self.attr == "leaky_relu":
            return F.leaky_relu(y, self.scalars[0])
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, out_channels, H', W') in channels-last memory format."""
        if (
            x.dim() != 4
            or x.device.type != "cpu"
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or (x.requires_grad and torch.is_grad_enabled())
        ):
            return self.reference(x)
        return torch.ops.mkldnn._convolution_pointwise(
            x.contiguous(memory_format=torch.channels_last),
            self.packed,
            self.bias,
            self.padding,
            self.stride,
            self.dilation,
            self.groups,
            self.attr,
            self.scalars,
            "",
        )

    def extra_repr(self) -> str:  # noqa: D102
        k = tuple(self.weight.shape[2:])
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={k}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"activation={self.attr}"
        )

    def __deepcopy__(self, memo: dict) -> PackedConv2d:
        # The opaque oneDNN tensor cannot be deep-copied: repack the copy's weight.
        new = object.__new__(PackedConv2d)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key != "packed":
                new.__dict__[key] = copy.deepcopy(value, memo)
        new.packed = new._pack()
        return new


def _check_input(conv: nn.Conv2d) -> torch.Tensor:
    """A random input big enough for ``conv`` (when no real input was recorded)."""
    g = torch.Generator().manual_seed(0)
    k = [d * (s - 1) + 1 for d, s in zip(conv.dilation, conv.kernel_size, strict=True)]
    side = max(16, *k)
    return torch.randn(1, conv.in_channels, side, side, generator=g)


def _try_pack(
    conv: nn.Conv2d, activation: nn.Module | None, example: torch.Tensor | None
) -> PackedConv2d | None:
    """A checked :class:`PackedConv2d` for ``conv``, or None if it fails or differs."""
    try:
        x = _check_input(conv) if example is None else example
        packed = PackedConv2d(conv, activation, list(x.shape))
        with torch.inference_mode():
            ref = packed.reference(x)
            out = packed(x)
        scale = max(1.0, float(ref.abs().max()))
        if out.shape != ref.shape or not float((out - ref).abs().max()) <= PACK_RTOL * scale:
            return None
        return packed
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return None


def pack_convolutions(
    module: nn.Module,
    inputs: dict[int, torch.Tensor] | None = None,
    fuse_activations: bool = True,
) -> int:
    """Replaces ``nn.Conv2d`` modules by checked :class:`PackedConv2d` in place.

    Args:
        module: an eval-mode network on the CPU (BatchNorm already folded, so that the
            activation follows the convolution directly).
        inputs: ``id(conv) -> an input it saw`` (from a calibration run). When given, only
            the convolutions in it are packed (the others are not on the inference path)
            and each is checked on its own input; otherwise every convolution is packed and
            checked on random data.
        fuse_activations: fuse a ``ReLU``/``LeakyReLU`` that follows a convolution in an
            ``nn.Sequential`` (skipping ``nn.Identity``).

    Returns:
        How many convolutions were packed.
    """
    if not packing_available():
        return 0
    packed = 0
    done: set[int] = set()
    # Convolutions inside Sequentials first: they may take the activation that follows.
    for seq in _sequentials(module):
        names = list(seq._modules)
        for k, name in enumerate(names):
            conv = seq._modules[name]
            if id(conv) in done or conv is None or not _packable(conv):
                continue
            if inputs is not None and id(conv) not in inputs:
                continue
            done.add(id(conv))
            act_name = None
            if fuse_activations:
                for nxt in names[k + 1 :]:
                    m = seq._modules[nxt]
                    if isinstance(m, nn.Identity):
                        continue
                    if type(m) in _FUSABLE:
                        act_name = nxt
                    break
            act = seq._modules[act_name] if act_name is not None else None
            new = _try_pack(conv, act, None if inputs is None else inputs[id(conv)])
            if new is None:
                continue
            seq._modules[name] = new
            if act_name is not None:
                seq._modules[act_name] = Folded()
            packed += 1
    # Then any other convolution (an attribute of a custom module).
    for parent in list(module.modules()):
        for name, conv in list(parent._modules.items()):
            if conv is None or id(conv) in done or not _packable(conv):
                continue
            if inputs is not None and id(conv) not in inputs:
                continue
            done.add(id(conv))
            new = _try_pack(conv, None, None if inputs is None else inputs[id(conv)])
            if new is not None:
                parent._modules[name] = new
                packed += 1
    return packed


def drop_folded(module: nn.Module) -> int:
    """Removes the :class:`Folded` placeholders from plain ``nn.Sequential`` containers.

    Saves a module call per placeholder. Only containers whose class keeps
    ``nn.Sequential.forward`` (which runs whatever modules remain, in order) are changed;
    positions inside them shift, names do not.

    Returns:
        How many placeholders were removed.
    """
    dropped = 0
    for seq in _sequentials(module):
        if type(seq).forward is not nn.Sequential.forward:
            continue
        for name in [k for k, m in seq._modules.items() if isinstance(m, Folded)]:
            del seq._modules[name]
            dropped += 1
    return dropped


def record_conv_inputs(
    module: nn.Module, example: Callable[[nn.Module], Any]
) -> dict[int, torch.Tensor]:
    """Runs ``example(module)`` once and returns ``id(conv) -> its first input``."""
    seen: dict[int, torch.Tensor] = {}
    hooks = []

    def hook(conv: nn.Module, args: tuple) -> None:
        if id(conv) not in seen and args and isinstance(args[0], torch.Tensor):
            seen[id(conv)] = args[0].detach().clone()

    for m in module.modules():
        if type(m) is nn.Conv2d:
            hooks.append(m.register_forward_pre_hook(hook))
    try:
        with torch.inference_mode():
            example(module)
    finally:
        for h in hooks:
            h.remove()
    return seen


def optimize_for_inference(
    model: nn.Module,
    example: Callable[[nn.Module], Any] | None = None,
    pack: bool = True,
) -> nn.Module:
    """An eval-mode, inference-only copy of ``model`` with the same outputs, computed faster.

    Folds BatchNorm into the preceding convolutions and, on the CPU, packs the 2-D
    convolutions for oneDNN with their activations fused (see the module docstring).
    ``model`` itself is not modified.

    Args:
        model: any ``nn.Module`` (on any device; packing only applies to float32 CPU
            convolutions).
        example: a function that runs the model's inference path once on a typical input,
            e.g. ``lambda m: m.predict(x)``; it tells which convolutions run at inference,
            with which input sizes, and gives each packed convolution real data to be
            checked on. None: pack every convolution, checked on random data.
        pack: False: only fold BatchNorm.

    Returns:
        The copy (eval mode, ``requires_grad`` off).
    """
    fast = copy.deepcopy(model).eval()
    fast.requires_grad_(False)
    fold_batchnorm(fast)
    if pack and packing_available():
        inputs = record_conv_inputs(fast, example) if example is not None else None
        pack_convolutions(fast, inputs)
    if example is None:
        return fast
    # Without the placeholders the arithmetic is the same, so the example's outputs must be
    # identical; if not (code that indexes into a container by position), put them back.
    saved = {seq: dict(seq._modules) for seq in _sequentials(fast)}
    with torch.inference_mode():
        before = example(fast)
        if drop_folded(fast):
            try:
                same = _identical(before, example(fast))
            except (RuntimeError, IndexError, TypeError, ValueError):
                same = False
            if not same:
                for seq, modules in saved.items():
                    seq._modules.clear()
                    seq._modules.update(modules)
    return fast


def _identical(a: Any, b: Any) -> bool:
    """Whether two (nested tuple/list/dict) outputs are equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(torch.equal(a, b))
        )
    if isinstance(a, (tuple, list)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_identical(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
        )
    return bool(a == b)


def count_modules(module: nn.Module, kind: type[nn.Module]) -> int:
    """How many submodules of ``module`` (itself included) are instances of ``kind``."""
    return sum(isinstance(m, kind) for m in module.modules())
