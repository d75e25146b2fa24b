"""Transporter (Kulkarni et al., NeurIPS 2019; the paper's baseline [11]) in PyTorch.

An independent re-implementation following the published architecture and the details of
the official Sonnet/TF1 code (google-deepmind/deepmind-research, ``transporter/``):

* a feature **encoder** Φ and a keypoint encoder of the same shape (not sharing weights):
  Conv-Norm-ReLU layers, filters (16, 16, 32, 32), kernels (7, 3, 3, 3), strides (1, 1, 2, 1),
  so a 64x64 image gives 32x32 feature maps;
* the **keypointer** Ψ: a 1x1 convolution to K channels; each keypoint coordinate is the
  expectation of a softmax over the feature map's mean along the other axis, on a
  ``linspace(-1, 1)`` grid; each keypoint is rendered as an isotropic Gaussian heatmap
  ``exp(-|u - mu|^2 / std^2)`` with ``std = 0.1`` (in [-1, 1] units);
* **transport**, keypoint by keypoint: ``f = (1 - Ha_k)(1 - Hb_k) f + Hb_k Φ(b)``,
  starting from ``f = Φ(a)``; gradients through the source image a are stopped;
* a **decoder**: Conv-Norm-ReLU blocks with 2x nearest upsampling back to the image, a
  final 3x3 convolution to RGB; loss: mean squared reconstruction error of the target.

The number of keypoints is the dataset's maximum number of joints (as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TransporterConfig:
    """Architecture of the baseline (defaults sized for CPU training on 64x64 frames).

    Attributes:
        num_keypoints: K, set to the dataset's maximum number of joints.
        image_size: square input resolution the networks run at.
        filters: channels of each encoder layer (official: 16, 16, 32, 32).
        kernel_sizes: kernel of each encoder layer (official: 7, 3, 3, 3).
        strides: stride of each encoder layer (official: 1, 1, 2, 1).
        decoder_filters: channels of the first decoder block, halved at each upsampling
            (official example: 128; smaller here for CPU).
        gauss_std: std of the keypoint Gaussian heatmaps in [-1, 1] units (official: 0.1).
        norm: "batch" (as in the paper submission) or "instance".
    """

    num_keypoints: int = 6
    image_size: int = 64
    filters: tuple[int, ...] = (16, 16, 32, 32)
    kernel_sizes: tuple[int, ...] = (7, 3, 3, 3)
    strides: tuple[int, ...] = (1, 1, 2, 1)
    decoder_filters: int = 32
    gauss_std: float = 0.1
    norm: str = "batch"

    def to_dict(self) -> dict:
        """Plain dict (lists instead of tuples) for checkpoints."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @staticmethod
    def from_dict(d: dict) -> TransporterConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for k in ("filters", "kernel_sizes", "strides"):
            if k in d:
                d[k] = tuple(d[k])
        return TransporterConfig(**d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.GroupNorm(channels, channels)
    raise ValueError(f"TransporterConfig.norm: unknown {kind!r}; use 'batch' or 'instance'")


def _block(cin: int, cout: int, kernel: int, stride: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Sequential):
    """Image (B, 3, H, W) -> features (B, C, H / s, W / s)."""

    def __init__(self, cfg: TransporterConfig):
        layers, cin = [], 3
        for cout, k, s in zip(cfg.filters, cfg.kernel_sizes, cfg.strides, strict=True):
            layers.append(_block(cin, cout, k, s, cfg.norm))
            cin = cout
        super().__init__(*layers)


def keypoint_coordinates(logits: torch.Tensor) -> torch.Tensor:
    """Spatial-softmax keypoint centres, as the official code computes them.

    Args:
        logits: (B, K, h, w) keypoint feature maps.

    Returns:
        (B, K, 2) centres as (x, y) in [-1, 1] over the feature grid.
    """
    _, _, h, w = logits.shape
    py = torch.softmax(logits.mean(dim=3), dim=2)  # (B, K, h)
    px = torch.softmax(logits.mean(dim=2), dim=2)  # (B, K, w)
    gy = torch.linspace(-1.0, 1.0, h, device=logits.device, dtype=logits.dtype)
    gx = torch.linspace(-1.0, 1.0, w, device=logits.device, dtype=logits.dtype)
    return torch.stack([(px * gx).sum(-1), (py * gy).sum(-1)], dim=-1)  # (B, K, 2)


def gaussian_heatmaps(centres: torch.Tensor, size: tuple[int, int], std: float) -> torch.Tensor:
    """Renders each keypoint as ``exp(-|u - mu|^2 / std^2)`` on a [-1, 1] grid.

    Args:
        centres: (B, K, 2) keypoint (x, y) in [-1, 1].
        size: (h, w) of the maps.
        std: Gaussian std in [-1, 1] units.

    Returns:
        (B, K, h, w) heatmaps in (0, 1].
    """
    h, w = size
    gy = torch.linspace(-1.0, 1.0, h, device=centres.device, dtype=centres.dtype)
    gx = torch.linspace(-1.0, 1.0, w, device=centres.device, dtype=centres.dtype)
    dx = (gx[None, None, None, :] - centres[..., 0, None, None]) ** 2  # (B, K, 1, w)
    dy = (gy[None, None, :, None] - centres[..., 1, None, None]) ** 2  # (B, K, h, 1)
    return torch.exp(-(dx + dy) / std**2)


def transport(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    heat_a: torch.Tensor,
    heat_b: torch.Tensor,
) -> torch.Tensor:
    """Per-keypoint feature transport from source a to target b.

    Args:
        features_a: (B, C, h, w) source features.
        features_b: (B, C, h, w) target features.
        heat_a: (B, K, h, w) source keypoint heatmaps.
        heat_b: (B, K, h, w) target keypoint heatmaps.

    Returns:
        (B, C, h, w) transported features.
    """
    out = features_a
    for k in range(heat_a.shape[1]):
        ma, mb = heat_a[:, k : k + 1], heat_b[:, k : k + 1]  # (B, 1, h, w)
        out = (1 - ma) * (1 - mb) * out + mb * features_b
    return out


class Decoder(nn.Module):
    """Features (B, C, h, w) -> image (B, 3, H, W), upsampling by 2 until H is reached."""

    def __init__(self, cfg: TransporterConfig, in_channels: int, feature_size: int):
        super().__init__()
        blocks, size, cin, filters = [], feature_size, in_channels, cfg.decoder_filters
        while size < cfg.image_size:
            blocks += [
                _block(cin, filters, 3, 1, cfg.norm),
                _block(filters, filters, 3, 1, cfg.norm),
                nn.Upsample(scale_factor=2, mode="nearest"),
            ]
            cin, size = filters, size * 2
            filters = max(filters // 2, 8)
        if size != cfg.image_size:
            raise ValueError(f"feature size {feature_size} does not upsample to {cfg.image_size}")
        blocks += [_block(cin, filters, 3, 1, cfg.norm), nn.Conv2d(filters, 3, 3, padding=1)]
        self.net = nn.Sequential(*blocks)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Decodes features to an image."""
        return self.net(features)


class Transporter(nn.Module):
    """The full model: encoder, keypointer, decoder (see the module docstring)."""

    def __init__(self, cfg: TransporterConfig):
        super().__init__()
        self.cfg = cfg
        stride = 1
        for s in cfg.strides:
            stride *= s
        self.stride = stride
        self.feature_size = cfg.image_size // stride
        self.encoder = Encoder(cfg)
        self.keypoint_encoder = Encoder(cfg)
        self.keypoint_head = nn.Conv2d(cfg.filters[-1], cfg.num_keypoints, 1)
        self.decoder = Decoder(cfg, cfg.filters[-1], self.feature_size)

    def keypoints(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoint centres and heatmaps.

        Args:
            images: (B, 3, H, W) in [0, 1].

        Returns:
            ``centres`` (B, K, 2) (x, y) in [-1, 1] of the feature grid, and ``heatmaps``
            (B, K, h, w).
        """
        logits = self.keypoint_head(self.keypoint_encoder(images - 0.5))  # (B, K, h, w)
        centres = keypoint_coordinates(logits)
        return centres, gaussian_heatmaps(centres, logits.shape[-2:], self.cfg.gauss_std)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstructs the target from source features transported at keypoints.

        Args:
            source: (B, 3, H, W) in [0, 1].
            target: (B, 3, H, W) in [0, 1].

        Returns:
            Dict with ``reconstruction`` (B, 3, H, W) in the [0, 1] image range (not
            clamped), ``centres_source`` / ``centres_target`` (B, K, 2).
        """
        with torch.no_grad():  # the official code stops all gradients through the source
            features_a = self.encoder(source - 0.5)
            centres_a, heat_a = self.keypoints(source)
        features_b = self.encoder(target - 0.5)
        centres_b, heat_b = self.keypoints(target)
        transported = transport(features_a, features_b, heat_a, heat_b)
        return {
            "reconstruction": self.decoder(transported) + 0.5,
            "centres_source": centres_a,
            "centres_target": centres_b,
        }

    def loss(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error of the target."""
        return F.mse_loss(self.forward(source, target)["reconstruction"], target)

    def centres_to_pixels(self, centres: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Feature-grid [-1, 1] centres -> pixel xy of an image of ``image_size`` (W, H).

        Feature cell i sees input pixel ``stride * i`` at its centre (padding k // 2), so
        the network-input pixel is ``stride * (u + 1) / 2 * (h - 1)``; it is then scaled
        from the network input to the given image.

        Args:
            centres: (..., 2) (x, y) in [-1, 1].
            image_size: (width, height) of the image the pixels should refer to.

        Returns:
            (..., 2) pixel xy, x right, y down.
        """
        f = self.feature_size
        net_px = self.stride * (centres + 1) / 2 * (f - 1)  # network-input pixels
        width, height = image_size
        scale = torch.tensor(
            [width / self.cfg.image_size, height / self.cfg.image_size], dtype=centres.dtype
        )
        # Pixel centres: network pixel p covers [p, p + 1) * scale -> centre (p + 0.5) s - 0.5.
        return (net_px + 0.5) * scale - 0.5
