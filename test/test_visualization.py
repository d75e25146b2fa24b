"""Debug-image drawing and marker building, without ROS running."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from skeleton_perception.skeleton import Skeleton
from skeleton_perception.visualization import (
    default_intrinsics,
    draw_skeleton,
    id_colors,
    pixels_to_plane,
    skeleton_markers,
)


def skeleton(n_links=1):
    return Skeleton(
        joints=np.array([[10.0, 20.0], [30.0, 20.0]], np.float32),
        joint_ids=np.array([5, 9]),
        joint_scores=np.ones(2, np.float32),
        links=np.array([[0, 1]][:n_links], np.int64).reshape(-1, 2),
        link_scores=np.ones(n_links, np.float32),
        image_size=(40, 30),
    )


def test_colours_depend_only_on_the_id():
    a, b = id_colors(np.array([5, 9])), id_colors(np.array([9, 5, 5]))
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[1], b[0])
    assert not np.allclose(a[0], a[1])
    assert ((a >= 0) & (a <= 1)).all()


def test_draw_skeleton_draws_on_a_copy():
    image = np.zeros((30, 40, 3), np.uint8)
    out = draw_skeleton(image, skeleton(), ground_truth=skeleton())
    assert image.sum() == 0 and out.shape == image.shape and out.dtype == np.uint8
    assert out[20, 10].any() and out[20, 20].any()  # a joint and the link's middle


def test_back_projection_onto_the_plane():
    xyz = pixels_to_plane(np.array([[50.0, 40.0], [150.0, 40.0]]), (100.0, 100.0, 50.0, 40.0), 2.0)
    np.testing.assert_allclose(xyz, [[0.0, 0.0, 2.0], [2.0, 0.0, 2.0]])
    assert default_intrinsics(640, 480) == (640.0, 640.0, 319.5, 239.5)


def test_markers_carry_header_namespace_ids_and_lifetime():
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    markers = skeleton_markers(skeleton(), header, None, namespace="ns", lifetime_s=0.25).markers
    assert [(m.ns, m.id, m.type, m.action) for m in markers] == [
        ("ns", 0, Marker.LINE_LIST, Marker.ADD),
        ("ns", 1, Marker.SPHERE_LIST, Marker.ADD),
    ]
    assert all(m.header.frame_id == "cam" and m.header.stamp.sec == 42 for m in markers)
    assert markers[1].lifetime.sec == 0 and markers[1].lifetime.nanosec == 250_000_000
    assert len(markers[0].points) == 2 and len(markers[1].points) == 2


def test_nothing_to_show_is_a_delete():
    markers = skeleton_markers(Skeleton.empty((40, 30)), Header(), None).markers
    assert [m.action for m in markers] == [Marker.DELETE, Marker.DELETE]
    no_links = skeleton_markers(skeleton(n_links=0), Header(), None).markers
    assert [m.action for m in no_links] == [Marker.DELETE, Marker.ADD]
