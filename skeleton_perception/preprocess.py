"""Any HxWx3 image -> the network's square input, and network points -> input pixels.

Letterbox: the longer side is scaled to ``size`` (area interpolation when shrinking,
linear when enlarging), the shorter side by the same factor, and the rest is padded by
replicating the border pixels (so the padding looks like the nearby background, not a
black bar the network never saw in training). Square images are just resized.

Pixel convention everywhere: x right, y down, pixel centres at integer coordinates
(0 .. W-1). A point at network pixel x_n maps to input pixel
x = (x_n - pad_x + 0.5) / scale_x - 0.5, where scale_x = new_width / width.

Pure numpy + OpenCV, used by the detector, the ROS node and the bag dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """The geometry of one letterbox transform.

    Attributes:
        width: input image width.
        height: input image height.
        size: side of the square output.
        new_width: width of the scaled image inside the output.
        new_height: height of the scaled image inside the output.
        pad_left: columns of padding left of the scaled image.
        pad_top: rows of padding above the scaled image.
    """

    width: int
    height: int
    size: int
    new_width: int
    new_height: int
    pad_left: int
    pad_top: int

    @staticmethod
    def fit(width: int, height: int, size: int = 64) -> Letterbox:
        """The letterbox that fits a ``width`` x ``height`` image into ``size`` x ``size``."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        scale = size / max(width, height)
        new_w = min(size, max(1, round(width * scale)))
        new_h = min(size, max(1, round(height * scale)))
        return Letterbox(
            width, height, size, new_w, new_h, (size - new_w) // 2, (size - new_h) // 2
        )

    @property
    def scale_xy(self) -> tuple[float, float]:
        """(x, y) scale factors from input to output pixels."""
        return self.new_width / self.width, self.new_height / self.height

    def apply(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 image (any dtype) -> size x size x 3 image of the same dtype."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"letterbox was fitted to {self.width}x{self.height}, image is "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        shrink = self.new_width < self.width or self.new_height < self.height
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        out = image
        if (self.new_width, self.new_height) != (self.width, self.height):
            out = cv2.resize(
                np.ascontiguousarray(image), (self.new_width, self.new_height), interpolation=interp
            )
        right = self.size - self.new_width - self.pad_left
        bottom = self.size - self.new_height - self.pad_top
        if self.pad_left or self.pad_top or right or bottom:
            out = cv2.copyMakeBorder(
                out, self.pad_top, bottom, self.pad_left, right, cv2.BORDER_REPLICATE
            )
        return out

    def to_input_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) network pixel xy -> (..., 2) float32 input-image pixel xy."""
        xy = np.asarray(xy, dtype=np.float32)
        sx, sy = self.scale_xy
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] - self.pad_left + 0.5) / sx - 0.5
        out[..., 1] = (xy[..., 1] - self.pad_top + 0.5) / sy - 0.5
        return out

    def to_network_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input-image pixel xy -> (..., 2) float32 network pixel xy."""
        xy = np.asarray(xy, dtype=np.float32)
        sx, sy = self.scale_xy
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] + 0.5) * sx - 0.5 + self.pad_left
        out[..., 1] = (xy[..., 1] + 0.5) * sy - 0.5 + self.pad_top
        return out


def to_tensor_layout(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 in [0, 1] (the network's input layout).

    Args:
        image: HxWx3 uint8.
        out: a 3xHxW float32 array to write into (e.g. one slot of a batch); None: a new
            array.

    Returns:
        ``out`` or the new array.
    """
    chw = image.transpose(2, 0, 1)
    if out is None:
        out = np.empty(chw.shape, np.float32)
    return np.divide(chw, np.float32(255.0), out=out)
