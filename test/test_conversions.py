"""Message <-> numpy conversions against hand-built messages (no ROS graph needed)."""

from __future__ import annotations

import array

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from skeleton_perception.nodes.conversions import (
    ImageConversionError,
    camera_info_intrinsics,
    compressed_to_rgb,
    image_to_numpy,
    image_to_rgb,
    make_camera_info,
    ns_to_stamp,
    numpy_to_image,
    rgb_to_compressed,
    rgb_to_image,
)
from skeleton_perception.skeleton_msg import stamp_to_ns


def hand_image(
    width: int,
    height: int,
    encoding: str,
    rows: list[bytes],
    step: int,
    bigendian: bool = False,
) -> Image:
    """An Image assembled byte by byte, padding each row to ``step``."""
    msg = Image()
    msg.width, msg.height, msg.encoding, msg.step = width, height, encoding, step
    msg.is_bigendian = int(bigendian)
    data = b"".join(r + b"\xee" * (step - len(r)) for r in rows)
    msg.data = array.array("B", data)
    return msg


def test_rgb8_with_row_padding():
    # 2x2 rgb8, rows padded from 6 to 8 bytes.
    rows = [bytes([1, 2, 3, 4, 5, 6]), bytes([7, 8, 9, 10, 11, 12])]
    msg = hand_image(2, 2, "rgb8", rows, step=8)
    px = image_to_numpy(msg)
    assert px.shape == (2, 2, 3)
    assert px[0, 1].tolist() == [4, 5, 6]
    assert px[1, 0].tolist() == [7, 8, 9]
    rgb = image_to_rgb(msg)
    assert rgb.flags.writeable and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, px)


@pytest.mark.parametrize(
    ("encoding", "pixel", "expected_rgb"),
    [
        ("rgb8", [10, 20, 30], [10, 20, 30]),
        ("bgr8", [30, 20, 10], [10, 20, 30]),
        ("rgba8", [10, 20, 30, 255], [10, 20, 30]),
        ("bgra8", [30, 20, 10, 7], [10, 20, 30]),
        ("mono8", [42], [42, 42, 42]),
    ],
)
def test_colour_encodings_to_rgb(encoding, pixel, expected_rgb):
    width, height = 3, 2
    row = bytes(pixel) * width
    msg = hand_image(width, height, encoding, [row] * height, step=len(row) + 3)
    rgb = image_to_rgb(msg)
    assert rgb.shape == (height, width, 3)
    assert (rgb == np.array(expected_rgb, np.uint8)).all()


def test_mono16_big_and_little_endian():
    values = [1, 258, 65535]
    big = hand_image(3, 1, "mono16", [b"".join(v.to_bytes(2, "big") for v in values)], 8, True)
    little = hand_image(3, 1, "mono16", [b"".join(v.to_bytes(2, "little") for v in values)], 6)
    assert image_to_numpy(big).tolist() == [values]
    assert image_to_numpy(little).tolist() == [values]
    assert image_to_numpy(big).dtype == np.uint16
    # To RGB: the high byte.
    assert image_to_rgb(big)[0, :, 0].tolist() == [0, 1, 255]


def test_numpy_to_image_roundtrip_all_encodings():
    rng = np.random.default_rng(0)
    cases = {
        "rgb8": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
        "bgra8": rng.integers(0, 256, (5, 7, 4), dtype=np.uint8),
        "mono8": rng.integers(0, 256, (5, 7), dtype=np.uint8),
        "mono16": rng.integers(0, 65536, (5, 7), dtype=np.uint16),
    }
    header = Header(frame_id="cam")
    for encoding, px in cases.items():
        for bigendian in (False, True):
            msg = numpy_to_image(px, encoding, header, is_bigendian=bigendian)
            assert msg.header.frame_id == "cam"
            assert msg.step * msg.height == len(msg.data)
            np.testing.assert_array_equal(image_to_numpy(msg), px)


def test_numpy_to_image_rejects_mismatch():
    with pytest.raises(ValueError, match="does not match"):
        numpy_to_image(np.zeros((4, 4, 3), np.uint16), "rgb8")
    with pytest.raises(ValueError, match="unknown encoding"):
        numpy_to_image(np.zeros((4, 4, 3), np.uint8), "yuv422")


def test_rgb_to_image_bgr8():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    msg = rgb_to_image(rgb, encoding="bgr8")
    assert image_to_numpy(msg)[0, 0].tolist() == [0, 0, 200]
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "unknown encoding"),
        (lambda m: setattr(m, "encoding", "32FC1"), "not a colour or grey image"),
        (lambda m: setattr(m, "step", 5), "step 5 is smaller"),
        (lambda m: setattr(m, "data", m.data[:-1]), "data has 23 bytes"),
        (lambda m: setattr(m, "width", 0), "empty image"),
        (lambda m: setattr(m, "height", 0), "empty image"),
        (lambda m: (setattr(m, "width", 10_000), setattr(m, "height", 10_000)), "too large"),
    ],
)
def test_malformed_images_name_the_problem(mutate, problem):
    msg = numpy_to_image(np.zeros((2, 4, 3), np.uint8), "rgb8")  # step 12, 24 bytes
    mutate(msg)
    with pytest.raises(ImageConversionError, match=problem):
        image_to_rgb(msg)


def test_odd_step_for_16_bit_is_refused():
    msg = hand_image(2, 1, "mono16", [bytes(4)], step=5)
    with pytest.raises(ImageConversionError, match="multiple"):
        image_to_numpy(msg)


def test_max_pixels_is_configurable():
    msg = numpy_to_image(np.zeros((20, 20), np.uint8), "mono8")
    with pytest.raises(ImageConversionError, match="too large"):
        image_to_rgb(msg, max_pixels=100)
    assert image_to_rgb(msg, max_pixels=None).shape == (20, 20, 3)


def test_compressed_roundtrip_and_garbage():
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (255, 0, 0)
    out = compressed_to_rgb(rgb_to_compressed(rgb, fmt="png"))
    np.testing.assert_array_equal(out, rgb)
    jpeg = compressed_to_rgb(rgb_to_compressed(rgb, fmt="jpeg"))
    assert jpeg.shape == rgb.shape and abs(int(jpeg[8, 2, 0]) - 255) < 10
    bad = CompressedImage(format="jpeg")
    bad.data = array.array("B", b"not a jpeg at all")
    with pytest.raises(ImageConversionError, match="could not be decoded"):
        compressed_to_rgb(bad)
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg"))


def test_camera_info_helpers():
    info = make_camera_info(320, 240, (300.0, 310.0, 160.0, 120.0), Header(frame_id="c"))
    assert camera_info_intrinsics(info) == (300.0, 310.0, 160.0, 120.0)
    assert camera_info_intrinsics(CameraInfo()) is None


def test_stamp_conversions():
    ns = 1_700_000_000_123_456_789
    assert stamp_to_ns(ns_to_stamp(ns)) == ns
