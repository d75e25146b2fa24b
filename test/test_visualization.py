"""Skeleton drawing (the core's one drawing function) and RViz markers, without ROS running."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from skeleton_perception.deprojection import default_intrinsics, pixels_to_plane
from skeleton_perception.drawing import draw_skeleton, id_colors
from skeleton_perception.nodes.markers import skeleton_markers
from skeleton_perception.skeleton import Skeleton


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


def test_upscaled_drawing_places_joints_and_points():
    image = np.zeros((30, 40, 3), np.uint8)
    sk = skeleton(n_links=0)
    sk.points = np.array([[2.0, 3.0], [10.0, 20.0], [30.0, 20.0]], np.float32)
    plain = draw_skeleton(image, sk, radius=2)
    assert not plain[3, 2].any()  # points are drawn only when asked for
    out = draw_skeleton(image, sk, radius=4, points=True, upscale=4)
    assert out.shape == (120, 160, 3)
    # pixel (x, y) of the input covers output pixels 4x .. 4x + 3
    assert out[3 * 4 + 1, 2 * 4 + 1].any()
    joint = out[20 * 4 + 1, 10 * 4 + 1]
    np.testing.assert_allclose(joint, id_colors(np.array([5]))[0] * 255, atol=2)


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
