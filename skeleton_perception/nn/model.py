"""The full model: π (points), ψ (skeleton), B (background) and the NPT.

``SkeletonModel.forward(source, target)`` runs one training pair batch;
``SkeletonModel.predict(images)`` is the inference path used by the detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from .background import BackgroundNet
from .dictconfig import DictConfig
from .npt import NeuralPointTransporter
from .points import (
    PointSet,
    categorical_points,
    refine_subpixel,
    spatial_softmax_points,
)
from .skeleton_net import SkeletonNet
from .structure_search import SearchConfig, search_skeleton, tree_skeleton
from .unet import UNet

POINT_REPRS = ("categorical", "spatial_softmax")
STRUCTURES = ("psi", "search", "fixed")


@dataclass
class ModelConfig(DictConfig):
    """Architecture and representation of the model (everything a checkpoint needs).

    Attributes:
        num_points: P, number of foreground points.
        image_size: side of the square network input (64 in the paper).
        unet_width: channels of π's first Double-Conv.
        psi_width: channels of ψ's first layers (ψ: the paper's CNN + fully connected
            layer over pair ids, :class:`SkeletonNet`).
        bg_width: channels of B.
        bg_latent: size of B's background vector (its bottleneck).
        bg_input_size: side of the downsampled frame B sees (16 in the paper).
        point_repr: "categorical" (Gumbel-Softmax, the paper) or "spatial_softmax"
            (the Table III ablation).
        gumbel_tau: Gumbel-Softmax temperature (training; also the evaluation softmax).
        gumbel_hard: straight-through one-hot samples instead of soft ones.
        spatial_softmax_sigma: pixels; Gaussian rendered at each point in the ablation.
        splat_sigma: pixels; standard deviation of the NPT's 3x3 Gaussian.
        composite_gamma: NPT compositing softmax temperature.
        composite_bg: NPT background "depth" (splat coverage that ties the background).
        link_logit_clip: bound c on ψ's link logits (S in [sigmoid(-c), sigmoid(c)]).
        psi_detach_points: feed ψ the point heatmaps without gradient to π.
        structure: how :meth:`SkeletonModel.predict` gets S: "psi" (the network ψ, the
            paper) or "search" (the link set minimising the skeleton losses for the
            image's points, :mod:`~skeleton_perception.nn.structure_search`; ψ's weights
            are then unused at inference) or "fixed" (the points ``joint_ids`` are the
            joints in every image, linked by the tree that best follows the object in the
            image, :func:`~skeleton_perception.nn.structure_search.tree_skeleton`).
        search: the searched objective's weights (``structure = "search"``).
        joint_ids: the joints of ``structure = "fixed"``: the point ids that the skeletons
            searched over whole training episodes link most often
            (``skeleton-perception select-joints``, docs/model.md).
    """

    config_name: ClassVar[str] = "model config"
    # removed with the pairwise ψ head (docs/model.md, "Removed options")
    retired: ClassVar[dict] = dict(
        psi_head="conv", psi_samples=9, psi_hidden=64, psi_standardize=False, psi_gain=2.0,
        psi_offset=4.0,
    )  # fmt: skip

    num_points: int = 32
    image_size: int = 64
    unet_width: int = 16
    psi_width: int = 32
    bg_width: int = 32
    bg_latent: int = 32
    bg_input_size: int = 16
    point_repr: str = "categorical"
    gumbel_tau: float = 1.0
    gumbel_hard: bool = False
    spatial_softmax_sigma: float = 1.5
    splat_sigma: float = 1.0
    composite_gamma: float = 0.1
    composite_bg: float = 0.2
    link_logit_clip: float = 4.0
    psi_detach_points: bool = True
    structure: str = "psi"
    search: SearchConfig = field(default_factory=SearchConfig)
    joint_ids: list[int] = field(default_factory=list)

    def __post_init__(self):
        if self.point_repr not in POINT_REPRS:
            raise ValueError(
                f"model.point_repr must be one of {POINT_REPRS}, got {self.point_repr!r}"
            )
        if self.structure not in STRUCTURES:
            raise ValueError(f"model.structure must be one of {STRUCTURES}, got {self.structure!r}")
        if isinstance(self.search, dict):
            self.search = SearchConfig.from_dict(self.search)
        if self.num_points < 2:
            raise ValueError(f"model.num_points must be >= 2, got {self.num_points}")
        self.joint_ids = [int(k) for k in self.joint_ids]
        if self.structure == "fixed" and (
            len(self.joint_ids) < 2
            or len(set(self.joint_ids)) != len(self.joint_ids)
            or not all(0 <= k < self.num_points for k in self.joint_ids)
        ):
            raise ValueError(
                "model.structure 'fixed' needs model.joint_ids: at least 2 distinct point ids "
                f"in [0, {self.num_points}), got {self.joint_ids}"
            )
        if self.image_size % 16:
            raise ValueError(f"model.image_size must be divisible by 16, got {self.image_size}")

    @classmethod
    def drop_retired(cls, d: dict) -> dict:
        """``d`` without the removed keys, its ``search`` section's included."""
        d = super().drop_retired(d)
        if isinstance(d.get("search"), dict):
            d["search"] = SearchConfig.drop_retired(d["search"])
        return d


def point_heatmaps(maps: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) maps -> heatmaps scaled so each has peak 1 (ψ's input)."""
    return maps / maps.flatten(2).amax(-1)[..., None, None].clamp_min(1e-12)


class SkeletonModel(nn.Module):
    """π + ψ + B + NPT.

    Args:
        cfg: the architecture.
    """

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.pi = UNet(3, cfg.num_points, cfg.unet_width).to(memory_format=torch.channels_last)
        self.psi = SkeletonNet(cfg.num_points, cfg.psi_width, cfg.image_size, cfg.link_logit_clip)
        self.background = BackgroundNet(
            cfg.bg_width, cfg.bg_latent, cfg.bg_input_size, cfg.image_size
        )
        self.npt = NeuralPointTransporter(cfg.splat_sigma, cfg.composite_gamma, cfg.composite_bg)

    def points(
        self, images: torch.Tensor, sample: bool = True, tau: float | None = None
    ) -> PointSet:
        """(B, 3, H, W) images in [0, 1] -> their points."""
        logits = self.pi(images - 0.5)
        if logits.dtype == torch.bfloat16:  # bf16 autocast (training): sample in float32,
            logits = logits.float()  # a bf16 uniform has 8 bits, too few for Gumbel noise
        if self.cfg.point_repr == "spatial_softmax":
            return spatial_softmax_points(logits, self.cfg.spatial_softmax_sigma)
        tau = self.cfg.gumbel_tau if tau is None else tau
        return categorical_points(logits, tau, sample=sample, hard=self.cfg.gumbel_hard and sample)

    def link_logits(self, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """ψ's raw link logits.

        Args:
            images: (B, 3, H, W) in [0, 1].
            maps: (B, P, H, W) location maps.

        Returns:
            (B, P(P-1)/2) logits.
        """
        heat = point_heatmaps(maps.detach() if self.cfg.psi_detach_points else maps)
        return self.psi.logits(torch.cat([images - 0.5, heat], dim=1))

    def connectivity(self, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """ψ: (B, 3, H, W) images, their (B, P, H, W) maps -> (B, P, P) S."""
        return self.psi.probabilities(self.link_logits(images, maps))

    def forward(self, source: torch.Tensor, target: torch.Tensor, tau: float | None = None) -> dict:
        """One batch of training pairs.

        Args:
            source: (B, 3, H, W) in [0, 1].
            target: (B, 3, H, W) in [0, 1].
            tau: Gumbel-Softmax temperature (default: the config's).

        Returns:
            dict with ``source``/``target`` (PointSet), ``S`` (B, P, P) from the source,
            ``link_logits`` (B, P(P-1)/2) ψ's raw logits, ``background`` (B, 3, H, W) and
            ``recon`` (B, 3, H, W).
        """
        n = source.shape[0]
        both = self.points(torch.cat([source, target]), sample=self.training, tau=tau)
        ps = PointSet(*(t[:n] for t in (both.logits, both.maps, both.xy, both.xy_hard)))
        pt = PointSet(*(t[n:] for t in (both.logits, both.maps, both.xy, both.xy_hard)))
        link_logits = self.link_logits(source, ps.maps)
        S = self.psi.probabilities(link_logits)
        background = self.background(target)
        recon = self.npt(source, ps.maps, pt.maps, background)
        return dict(
            source=ps, target=pt, S=S, link_logits=link_logits, background=background, recon=recon
        )

    @torch.no_grad()
    def inference_points(self, images: torch.Tensor) -> tuple[PointSet, torch.Tensor]:
        """π at inference (no sampling): (B, 3, H, W) in [0, 1] -> points, (B, P, 2) xy."""
        pts = self.points(images, sample=False)
        if self.cfg.point_repr == "categorical":
            return pts, refine_subpixel(pts.logits / self.cfg.gumbel_tau)
        return pts, pts.xy

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: (B, 3, H, W) in [0, 1] -> (B, P, 2) point xy, (B, P, P) S."""
        pts, xy = self.inference_points(images)
        if self.cfg.structure == "search":
            S = search_skeleton([xy], self.cfg.image_size, self.cfg.search).to(xy.dtype)
            return xy, S
        if self.cfg.structure == "fixed":
            return xy, tree_skeleton(xy, self.cfg.joint_ids, self.cfg.image_size).to(xy.dtype)
        return xy, self.connectivity(images, pts.maps)
