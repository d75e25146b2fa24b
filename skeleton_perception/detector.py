"""``SkeletonDetector``: the one inference API (image in, :class:`Skeleton` out).

    det = SkeletonDetector.from_checkpoint(path=None, device="auto")
    sk = det(image)                 # HxWx3 uint8 RGB -> Skeleton in that image's pixels
    sks = det.predict_batch(images)

Joints are the foreground points with at least one link after thresholding S at
``link_threshold`` (the paper's S^b), so their number varies with the object.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, build_model_from_checkpoint, load_checkpoint
from .nn.model import SkeletonModel
from .preprocess import Letterbox, to_tensor_layout
from .skeleton import Skeleton

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: "auto" is CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def skeleton_from_prediction(
    xy: np.ndarray,
    S: np.ndarray,
    letterbox: Letterbox,
    link_threshold: float = 0.5,
    min_joint_score: float = 0.0,
) -> Skeleton:
    """Builds a :class:`Skeleton` from network-pixel points and a connectivity matrix.

    Args:
        xy: (P, 2) network-pixel xy of all points.
        S: (P, P) symmetric connectivity in [0, 1].
        letterbox: the transform that made the network input.
        link_threshold: links are pairs with S > threshold.
        min_joint_score: joints whose score (strongest link) is below it are dropped,
            with their links.
    """
    P = S.shape[0]
    points = letterbox.to_input_pixels(xy)
    S = S.astype(np.float32)
    iu, ju = np.triu_indices(P, k=1)
    keep = S[iu, ju] > link_threshold
    iu, ju = iu[keep], ju[keep]
    score = np.zeros(P, np.float32)
    np.maximum.at(score, iu, S[iu, ju])
    np.maximum.at(score, ju, S[iu, ju])
    ok = score >= min_joint_score
    both = ok[iu] & ok[ju]
    iu, ju = iu[both], ju[both]
    ids = np.unique(np.concatenate([iu, ju])).astype(np.int64)
    row = np.full(P, -1, np.int64)
    row[ids] = np.arange(len(ids))
    return Skeleton(
        joints=points[ids].astype(np.float32).reshape(-1, 2),
        joint_ids=ids,
        joint_scores=score[ids],
        links=np.stack([row[iu], row[ju]], axis=1).astype(np.int64).reshape(-1, 2),
        link_scores=S[iu, ju].astype(np.float32),
        image_size=(letterbox.width, letterbox.height),
        points=points.astype(np.float32),
        connectivity=S,
    )


class SkeletonDetector:
    """Predicts skeletons from images with a trained :class:`SkeletonModel`.

    Args:
        model: the trained model (put in eval mode and moved to ``device``).
        device: "auto", "cpu", "cuda", "cuda:1", ...
        link_threshold: S threshold for a link (the paper binarises at 0.5).
        min_joint_score: drop joints whose strongest link is weaker.
        half: run in float16 (CUDA only; ignored on CPU).
        source: where the weights came from (for messages).
    """

    def __init__(
        self,
        model: SkeletonModel,
        device: str | torch.device = "auto",
        link_threshold: float = 0.5,
        min_joint_score: float = 0.0,
        half: bool = False,
        source: str = "<memory>",
    ):
        self._device = resolve_device(device)
        self.half = bool(half) and self._device.type == "cuda"
        self.model = model.eval().to(self._device)
        if self.half:
            self.model.half()
        self.link_threshold = float(link_threshold)
        self.min_joint_score = float(min_joint_score)
        self.input_size = int(model.cfg.image_size)
        self.num_points = int(model.cfg.num_points)
        self.source = source

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        link_threshold: float = 0.5,
        min_joint_score: float = 0.0,
        half: bool = False,
    ) -> SkeletonDetector:
        """Loads a checkpoint (None: the shipped default model).

        Raises:
            CheckpointError: missing, unreadable or mismatched checkpoint (names the file).
        """
        if path is None:
            path = DEFAULT_WEIGHTS
            if not path.is_file():
                raise CheckpointError(
                    f"default model {path} does not exist: no trained default model is shipped "
                    "yet; pass path= a checkpoint from `skeleton-perception train`"
                )
        ckpt = load_checkpoint(path, map_location="cpu")
        model = build_model_from_checkpoint(ckpt, path)
        return cls(model, device, link_threshold, min_joint_score, half, source=str(path))

    @property
    def device(self) -> str:
        """The torch device the model runs on, as a string ("cpu", "cuda:0")."""
        return str(self._device)

    def __call__(self, image: np.ndarray) -> Skeleton:
        """HxWx3 uint8 RGB image -> its Skeleton (pixels of that image)."""
        return self.predict_batch([image])[0]

    @torch.inference_mode()
    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Skeleton]:
        """List of HxWx3 uint8 RGB images (any sizes) -> list of Skeletons."""
        if len(images) == 0:
            return []
        boxes, batch = [], []
        for k, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"image {k}: expected an HxWx3 uint8 RGB array, got shape {image.shape} "
                    f"dtype {image.dtype}"
                )
            box = Letterbox.fit(image.shape[1], image.shape[0], self.input_size)
            boxes.append(box)
            batch.append(to_tensor_layout(box.apply(image)))
        x = torch.from_numpy(np.stack(batch)).to(self._device)
        if self.half:
            x = x.half()
        xy, S = self.model.predict(x)
        xy = xy.float().cpu().numpy()
        S = S.float().cpu().numpy()
        return [
            skeleton_from_prediction(
                xy[k], S[k], boxes[k], self.link_threshold, self.min_joint_score
            )
            for k in range(len(images))
        ]
