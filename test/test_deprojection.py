"""Deprojection, window depth and nearest-stamp pairing, without ROS (hand-computed values)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skeleton_perception.deprojection import (
    DeprojectionError,
    DepthWindow,
    PinholeCamera,
    deproject,
    depth_scale,
    quaternion_matrix,
    transform_points,
    window_depths,
)
from skeleton_perception.stamp_sync import NearestStampSync

K = [200.0, 0.0, 4.0, 0.0, 100.0, 3.0, 0.0, 0.0, 1.0]  # fx 200, fy 100, cx 4, cy 3


def camera(width=9, height=7, d=(0.0,) * 5, model="plumb_bob"):
    return PinholeCamera.from_camera_info(width, height, K, d, model)


def test_16uc1_millimetres_hand_computed():
    depth = np.full((7, 9), 2000, np.uint16)  # 2 m everywhere
    depth[5, 8] = 1500
    pixels = np.array([[4.0, 3.0], [6.0, 1.0], [8.0, 5.0], [7.6, 4.6]])
    out = deproject(pixels, depth, camera(), DepthWindow(window=1), depth_scale("16UC1"))
    assert out.valid.all()
    # ((u - cx) / fx * z, (v - cy) / fy * z, z), by hand:
    expected = [
        [0.0, 0.0, 2.0],
        [(6 - 4) / 200 * 2.0, (1 - 3) / 100 * 2.0, 2.0],  # (0.02, -0.04, 2)
        [(8 - 4) / 200 * 1.5, (5 - 3) / 100 * 1.5, 1.5],  # (0.03, 0.03, 1.5)
        [(7.6 - 4) / 200 * 1.5, (4.6 - 3) / 100 * 1.5, 1.5],  # nearest pixel (8, 5)
    ]
    np.testing.assert_allclose(out.points, expected, atol=1e-12)
    np.testing.assert_allclose(out.depth, [2.0, 2.0, 1.5, 1.5])


def test_32fc1_metres_and_window_median_skips_invalid_depths():
    depth = np.full((7, 9), np.nan, np.float32)
    depth[2:5, 3:6] = [[0.0, 1.0, 9.0], [1.25, 0.0, np.inf], [1.5, 50.0, 0.05]]
    out = deproject(
        np.array([[4.0, 3.0]]), depth, camera(), DepthWindow(3, 0.1, 10.0), depth_scale("32FC1")
    )
    # valid: 1.0, 9.0, 1.25, 1.5 (0, NaN, inf, 50 > max and 0.05 < min skipped): median 1.375
    assert out.valid.tolist() == [True]
    np.testing.assert_allclose(out.points, [[0.0, 0.0, 1.375]])


def test_no_valid_depth_is_invalid_never_the_origin():
    depth = np.zeros((7, 9), np.uint16)
    depth[0, 0] = 3000
    pixels = np.array([[4.0, 3.0], [-3.0, 2.0], [np.nan, 1.0], [0.2, 0.4]])
    out = deproject(pixels, depth, camera(), DepthWindow(3), 1e-3)
    assert out.valid.tolist() == [False, False, False, True]
    assert np.isnan(out.points[:3]).all() and np.isnan(out.depth[:3]).all()
    np.testing.assert_allclose(out.points[3, 2], 3.0)


def test_window_is_clipped_at_the_border():
    depth = np.arange(63, dtype=np.float32).reshape(7, 9) + 1.0
    z = window_depths(depth, np.array([[0.0, 0.0]]), DepthWindow(3, 0.0, 100.0))
    assert z[0] == np.median([1.0, 2.0, 10.0, 11.0])


def test_distortion_is_undone():
    d = (0.1, -0.05, 0.001, 0.002, 0.01)
    cam = camera(640, 480, d)
    point = np.array([[0.3, 0.2, 2.0]])
    pixel, _ = cv2.projectPoints(point, np.zeros(3), np.zeros(3), np.reshape(K, (3, 3)), d)
    depth = np.full((480, 640), 2.0, np.float32)
    out = deproject(pixel.reshape(-1, 2), depth, cam, DepthWindow(1))
    np.testing.assert_allclose(out.points, point, atol=1e-6)


@pytest.mark.parametrize(
    ("k", "d", "model", "match"),
    [
        (K, [0.1, 0, 0, 0, 0], "equidistant", "distortion model 'equidistant' is not supported"),
        (K, [0.1, 0, 0], "plumb_bob", "needs 5 coefficients"),
        ([0.0] * 9, [], "", "not a calibrated pinhole matrix"),
    ],
)
def test_unsupported_cameras_are_refused(k, d, model, match):
    with pytest.raises(DeprojectionError, match=match):
        PinholeCamera.from_camera_info(9, 7, k, d, model)


def test_any_model_without_distortion_is_accepted():
    cam = PinholeCamera.from_camera_info(9, 7, K, [0.0] * 4, "equidistant")
    np.testing.assert_allclose(cam.normalised(np.array([[6.0, 4.0]])), [[0.01, 0.01]])


def test_bad_inputs_name_the_problem():
    with pytest.raises(DeprojectionError, match="'rgb8' is not a depth encoding"):
        depth_scale("rgb8")
    with pytest.raises(DeprojectionError, match="depth image is 8x7 but the camera_info is 9x7"):
        deproject(np.zeros((1, 2)), np.zeros((7, 8), np.float32), camera(), DepthWindow())
    with pytest.raises(DeprojectionError, match="odd"):
        DepthWindow(window=4)


def test_transform():
    rotation = quaternion_matrix(0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))  # 90° about z
    out = transform_points(np.array([[1.0, 0.0, 0.5], [np.nan] * 3]), rotation, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(out[0], [1.0, 3.0, 3.5], atol=1e-12)
    assert np.isnan(out[1]).all()


# ------------------------------------------------------------------ stamp pairing


def test_sync_pairs_exact_stamps_at_once_in_either_order():
    sync = NearestStampSync(tolerance_ns=10)
    assert sync.add_other(100, "d100").pairs == []
    assert sync.add_main(100, "s100").pairs == [("s100", "d100")]
    assert sync.add_main(200, "s200").pairs == []  # its depth is still on its way
    assert sync.add_other(200, "d200").pairs == [("s200", "d200")]


def test_sync_waits_for_the_nearest_and_respects_the_tolerance():
    sync = NearestStampSync(tolerance_ns=10)
    sync.add_other(95, "d95")
    assert sync.add_main(100, "s").pairs == []  # a closer depth could still come
    result = sync.add_other(103, "d103")
    assert result.pairs == [("s", "d103")] and result.unmatched == []
    sync.add_other(150, "d150")
    result = sync.add_main(130, "late")
    assert result.pairs == [] and result.unmatched == [("late", 20)]


def test_sync_gives_up_on_stamps_that_never_match():
    sync = NearestStampSync(tolerance_ns=10, queue_size=2)
    unmatched = []
    for k in range(4):  # frames every 5000 ns, depth stamped 1000 ns before the skeleton
        unmatched += sync.add_other(5000 * k, f"d{k}").unmatched
        unmatched += sync.add_main(5000 * k + 1000, f"s{k}").unmatched
    assert unmatched == [("s0", -1000), ("s1", -1000), ("s2", -1000)]
    assert sync.waiting == 1


def test_sync_bounds_the_waiting_skeletons():
    sync = NearestStampSync(tolerance_ns=10, queue_size=2)
    assert sync.add_main(1, "s1").unmatched == []  # no depth yet: waits
    sync.add_main(2, "s2")
    assert sync.add_main(3, "s3").unmatched == [("s1", None)]
    assert sync.waiting == 2
