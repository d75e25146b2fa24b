"""Decoding ``sensor_msgs`` image messages to RGB with ``rosbags-image``.

``sensor_msgs/msg/Image`` in the encodings rosbags-image converts to ``rgb8`` (rgb8, bgr8,
rgba8, bgra8, mono8, mono16, 16-bit colour, Bayer, YUV 4:2:2, ``8UC3``), with row padding
(``step`` larger than a packed row) removed first; ``sensor_msgs/msg/CompressedImage`` in
JPEG or PNG (colour or grey, 8 or 16 bit). Anything else, or corrupt data, raises
:class:`UndecodableFrameError`, which bag readers count as a skipped frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from rosbags.image import compressed_image_to_cvimage, image_to_cvimage
from rosbags.image.image import ImageConversionError, ImageFormatError, to_cvtype


class UndecodableFrameError(Exception):
    """One image message cannot be decoded.

    Attributes:
        reason: ``"encoding"`` (unsupported encoding or format) or ``"corrupt"``.
        detail: human-readable detail, e.g. the encoding's name.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_image(msg: object) -> np.ndarray:
    """Decodes a deserialised ``Image`` or ``CompressedImage`` message to RGB.

    Args:
        msg: a rosbags message object of type Image or CompressedImage.

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous.

    Raises:
        UndecodableFrameError: the encoding is not supported or the data is corrupt.
    """
    if hasattr(msg, "format"):  # CompressedImage
        fmt = str(msg.format)
        if "compresseddepth" in fmt.lower():
            raise UndecodableFrameError("encoding", f"unsupported compressed format {fmt!r}")
        try:
            img = compressed_image_to_cvimage(msg)  # BGR, BGRA or grey, 8 or 16 bit
        except (AssertionError, cv2.error, ValueError):
            img = None
        if img is None or img.size == 0:
            raise UndecodableFrameError("corrupt", f"corrupt compressed image (format {fmt!r})")
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        elif img.dtype != np.uint8:
            detail = f"unsupported compressed pixel type {img.dtype}"
            raise UndecodableFrameError("encoding", detail)
        if img.ndim == 2:
            return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return np.ascontiguousarray(cv2.cvtColor(img, code))

    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise UndecodableFrameError("corrupt", f"empty image ({width}x{height})")
    try:
        msg = _unpadded(msg, height, width, step)
        img = image_to_cvimage(msg, "rgb8")
    except (ImageFormatError, ImageConversionError):
        raise UndecodableFrameError("encoding", f"unsupported encoding {encoding!r}") from None
    except (TypeError, ValueError, cv2.error) as err:
        raise UndecodableFrameError("corrupt", f"corrupt {encoding!r} image: {err}") from None
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UndecodableFrameError("encoding", f"unsupported encoding {encoding!r}")
    return np.ascontiguousarray(img)


def _unpadded(msg: object, height: int, width: int, step: int) -> object:
    """Returns ``msg`` with row padding (step > packed row size) removed from its data."""
    data = np.asarray(msg.data, np.uint8)
    if height == 0 or step * height > data.size:
        raise ValueError(f"{data.size} data bytes, expected step*height = {step * height}")
    row = data.size // height if step == 0 else step
    packed = _packed_row_bytes(str(msg.encoding), width)
    if packed is None or row == packed:
        return msg
    if packed > row:
        raise ValueError(f"step {step} is smaller than a row of {width} pixels")
    rows = data[: row * height].reshape(height, row)[:, :packed]
    return type(msg)(
        msg.header, height, width, msg.encoding, msg.is_bigendian, packed, rows.ravel()
    )


def _packed_row_bytes(encoding: str, width: int) -> int | None:
    """Bytes of an unpadded row, or None if the encoding is unknown (left to the decoder)."""
    try:
        bits, _, _, channels = to_cvtype(encoding)
    except (ImageFormatError, KeyError, AttributeError):
        return None
    return width * channels * bits // 8
