"""``SkeletonDetector``: the one inference API (image in, :class:`Skeleton` out).

    det = SkeletonDetector.from_checkpoint(path=None, device="auto")
    sk = det(image)                 # HxWx3 uint8 RGB -> Skeleton in that image's pixels
    sks = det.predict_batch(images)

Joints are the foreground points with at least one link after thresholding S at
``link_threshold`` (the paper's S^b), so their number varies with the object.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, build_model_from_checkpoint, load_checkpoint
from .nn.inference import optimize_for_inference
from .nn.model import SkeletonModel
from .nn.structure_search import clip_config, search_skeleton
from .preprocess import Letterbox, to_tensor_layout
from .skeleton import Skeleton

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: "auto" is CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=8)
def _upper_pairs(num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the strict upper triangle (read-only, cached)."""
    iu, ju = np.triu_indices(num_points, k=1)
    iu.setflags(write=False)
    ju.setflags(write=False)
    return iu, ju


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
    S = np.array(S, dtype=np.float32)  # a copy: the Skeleton owns its matrix
    iu, ju = _upper_pairs(P)
    s = S[iu, ju]
    keep = s > link_threshold
    iu, ju, s = iu[keep], ju[keep], s[keep]
    # score of a point: its strongest link (0 without links)
    links = np.zeros((P, P), np.float32)
    links[iu, ju] = s
    links[ju, iu] = s
    score = links.max(1) if P else np.zeros(0, np.float32)
    ok = score >= min_joint_score
    both = ok[iu] & ok[ju]
    iu, ju = iu[both], ju[both]
    linked = np.zeros(P, bool)
    linked[iu] = True
    linked[ju] = True
    ids = np.flatnonzero(linked).astype(np.int64)
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
        optimize: run an inference-only copy of the model
            (:func:`~skeleton_perception.nn.inference.optimize_for_inference`: BatchNorm
            folded into the convolutions, prepacked oneDNN convolutions with fused
            activations on the CPU), the same outputs up to float rounding. False: run
            ``model`` itself.

    Attributes:
        model: the model as given (eval mode, on ``device``).
        inference_model: what :meth:`predict_batch` runs: the optimised copy, or
            ``model`` when ``optimize`` is False.
    """

    def __init__(
        self,
        model: SkeletonModel,
        device: str | torch.device = "auto",
        link_threshold: float = 0.5,
        min_joint_score: float = 0.0,
        half: bool = False,
        source: str = "<memory>",
        optimize: bool = True,
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
        self.inference_model = self.model
        if optimize:
            self.inference_model = optimize_for_inference(self.model, self._calibrate)

    def _calibrate(self, model: SkeletonModel) -> None:
        """One inference on a fixed random image (records what the optimiser needs)."""
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, self.input_size, self.input_size, generator=g)
        model.predict(x.to(self._device, torch.float16 if self.half else torch.float32))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        link_threshold: float = 0.5,
        min_joint_score: float = 0.0,
        half: bool = False,
        optimize: bool = True,
        structure: str | None = None,
    ) -> SkeletonDetector:
        """Loads a checkpoint (None: the shipped default model).

        The arguments after ``path`` are the constructor's, except ``structure``: how S is
        predicted, "psi" (the network) or "search" (see ``ModelConfig.structure``); None
        keeps the checkpoint's choice.

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
        overrides = {} if structure is None else {"structure": structure}
        model = build_model_from_checkpoint(ckpt, path, overrides)
        return cls(
            model, device, link_threshold, min_joint_score, half, str(path), optimize=optimize
        )

    @property
    def device(self) -> str:
        """The torch device the model runs on, as a string ("cpu", "cuda:0")."""
        return str(self._device)

    def __call__(self, image: np.ndarray) -> Skeleton:
        """HxWx3 uint8 RGB image -> its Skeleton (pixels of that image)."""
        return self.predict_batch([image])[0]

    def _letterboxed(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[Letterbox]]:
        """Images (any sizes) -> (N, 3, size, size) network input and their letterboxes."""
        size = self.input_size
        boxes = []
        batch = np.empty((len(images), 3, size, size), np.float32)
        for k, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"image {k}: expected an HxWx3 uint8 RGB array, got shape {image.shape} "
                    f"dtype {image.dtype}"
                )
            box = Letterbox.fit(image.shape[1], image.shape[0], size)
            boxes.append(box)
            to_tensor_layout(box.apply(image), out=batch[k])
        x = torch.from_numpy(batch).to(self._device)
        return (x.half() if self.half else x), boxes

    @torch.inference_mode()
    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Skeleton]:
        """List of HxWx3 uint8 RGB images (any sizes) -> list of Skeletons."""
        if len(images) == 0:
            return []
        x, boxes = self._letterboxed(images)
        xy, S = self.inference_model.predict(x)
        xy = xy.float().cpu().numpy()
        S = S.float().cpu().numpy()
        return [
            skeleton_from_prediction(
                xy[k], S[k], boxes[k], self.link_threshold, self.min_joint_score
            )
            for k in range(len(images))
        ]

    @torch.inference_mode()
    def predict_video(
        self, images: Sequence[np.ndarray], every: int = 10, batch_size: int = 64
    ) -> list[Skeleton]:
        """One skeleton for a whole clip of the same object, drawn on every frame.

        Not the single-image output: the link set is searched once over every ``every``-th
        frame (the model's search objective averaged over those frames; a link must hold
        in all of them), then each frame publishes its own points joined by that one link
        set, so the joint set cannot change from frame to frame. For recordings processed
        offline, and as the bound that a per-image skeleton could reach with these points.

        Args:
            images: T HxWx3 uint8 RGB frames (any sizes).
            every: step between the frames the link set is searched on.
            batch_size: frames per network call.

        Returns:
            T skeletons.
        """
        if len(images) == 0:
            return []
        xy, boxes = [], []
        for start in range(0, len(images), batch_size):
            x, b = self._letterboxed(images[start : start + batch_size])
            xy.append(self.inference_model.inference_points(x)[1].float().cpu())
            boxes += b
        points = torch.cat(xy)  # (T, P, 2)
        frames = points[:: max(1, int(every))]  # (F, P, 2)
        mean = clip_config(self.model.cfg.search, len(frames))
        S = search_skeleton([f[None] for f in frames], self.input_size, mean)[0].numpy()
        return [
            skeleton_from_prediction(
                points[k].numpy(), S, boxes[k], self.link_threshold, self.min_joint_score
            )
            for k in range(len(images))
        ]
