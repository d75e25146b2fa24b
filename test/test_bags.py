"""Bag reading and the bag pair dataset, on real bags written with rosbags' Writer."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skeleton_perception.training.bags.dataset import (
    BagFrames,
    BagPairDataset,
    build_bag_datasets,
    split_by_segments,
)
from skeleton_perception.training.bags.reader import (
    BagError,
    ImageBag,
    SkippedFramesWarning,
    image_topics,
    read_images,
)
from skeleton_perception.training.bags.writer import BagWriter, compressed_message, image_message

from skeleton_perception.preprocess import Letterbox, to_tensor_layout

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
CAM = "/camera/image_raw"


def frame_image(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A frame that identifies its index: flat colour from i, plus a bar at column i % W."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = ((i * 7) % 256, (i * 13 + 50) % 256, (255 - i * 3) % 256)
    img[:, i % width] = 255
    return img


def write_bag(
    path: Path,
    n: int,
    *,
    storage: str = "mcap",
    kind: str = "rgb8",
    period_s: float = 0.1,
    size: tuple[int, int] = (48, 64),
    extra=None,
) -> list[int]:
    """Writes n frames on CAM; returns their timestamps. ``extra(writer)`` adds more."""
    times = [T0 + round(i * period_s * NS) for i in range(n)]
    msgtype = (
        "sensor_msgs/msg/CompressedImage" if kind in ("jpeg", "png") else "sensor_msgs/msg/Image"
    )
    with BagWriter(path, storage=storage) as w:
        w.add_topic(CAM, msgtype)
        for i, t in enumerate(times):
            img = frame_image(i, *size)
            if kind in ("jpeg", "png"):
                msg = compressed_message(w.typestore, img, t, fmt=kind)
            elif kind == "mono8":
                msg = image_message(w.typestore, img, t)
                msg.encoding, msg.step = "mono8", size[1]
                msg.data = np.ascontiguousarray(img[..., 0]).reshape(-1)
            else:
                msg = image_message(w.typestore, img, t, encoding=kind)
            w.write(CAM, msg, t)
        if extra is not None:
            extra(w)
    return times


LAYOUTS = [("file.mcap", "mcap"), ("dir_mcap", "mcap"), ("dir_sqlite", "sqlite3")]


@pytest.mark.parametrize(("name", "storage"), LAYOUTS)
@pytest.mark.parametrize("kind", ["rgb8", "bgr8", "mono8", "jpeg", "png"])
def test_reads_every_frame_in_order(tmp_path, name, storage, kind):
    path = tmp_path / name
    times = write_bag(path, 12, storage=storage, kind=kind)
    got = list(read_images(path, CAM))
    assert [t for t, _ in got] == times
    for i, (_, rgb) in enumerate(got):
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        expected = frame_image(i)
        if kind == "mono8":
            expected = np.repeat(expected[..., :1], 3, axis=2)
        tol = 12 if kind == "jpeg" else 0
        assert np.abs(rgb.astype(int) - expected).mean() <= tol


def test_topics_are_listed_with_counts_when_none_is_given(tmp_path):
    path = tmp_path / "two.mcap"

    def second_camera(w):
        w.add_topic("/left/image/compressed", "sensor_msgs/msg/CompressedImage")
        for i in range(3):
            w.write(
                "/left/image/compressed",
                compressed_message(w.typestore, frame_image(i), T0 + i),
                T0 + i,
            )

    write_bag(path, 5, extra=second_camera)
    assert [(t.name, t.count) for t in image_topics(path)] == [
        (CAM, 5),
        ("/left/image/compressed", 3),
    ]
    with pytest.raises(BagError) as err:
        ImageBag(path).open()
    message = str(err.value)
    assert "two.mcap" in message and "--topic" in message
    assert f"{CAM} (sensor_msgs/msg/Image, 5 messages)" in message
    assert "/left/image/compressed (sensor_msgs/msg/CompressedImage, 3 messages)" in message
    # One image topic: chosen without asking; a name without the leading slash works.
    single = tmp_path / "one.mcap"
    write_bag(single, 4)
    assert len(list(read_images(single))) == 4
    assert len(list(read_images(single, CAM.lstrip("/")))) == 4


# --------------------------------------------------------------------------- dataset


def expected_input(i: int) -> np.ndarray:
    img = frame_image(i)
    return to_tensor_layout(Letterbox.fit(img.shape[1], img.shape[0], 64).apply(img))


def test_pairs_hold_the_right_frames_within_the_time_window(tmp_path):
    path = tmp_path / "pairs"
    times = np.asarray(write_bag(path, 80, storage="sqlite3", period_s=0.1))
    train, val = build_bag_datasets(
        path, CAM, min_gap_s=0.3, max_gap_s=1.0, segment_s=2.0, val_fraction=0.25,
        guard_s=0.5, cache_size=16, seed=3, progress=False,
    )  # fmt: skip
    seen_gaps = set()
    for ds in (train, val):
        assert len(ds) > 0
        for item in range(len(ds)):
            pair = ds[item]
            assert set(pair) == {"source", "target", "episode", "source_index", "target_index"}
            s, t = pair["source_index"], pair["target_index"]
            assert pair["source"].dtype == torch.float32 and pair["source"].shape == (3, 64, 64)
            np.testing.assert_allclose(pair["source"].numpy(), expected_input(s), atol=1e-6)
            np.testing.assert_allclose(pair["target"].numpy(), expected_input(t), atol=1e-6)
            gap = abs(times[t] - times[s]) / NS
            assert 0.3 - 1e-9 <= gap <= 1.0 + 1e-9
            assert (times[s] - times[0]) // (2 * NS) == (times[t] - times[0]) // (2 * NS)
            assert pair["episode"] == (times[s] - times[0]) // (2 * NS)
            seen_gaps.add(round(gap, 1))
    assert seen_gaps == {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
    # Validation pairs are fixed; training pairs are drawn afresh.
    assert [val[i]["target_index"] for i in range(len(val))] == [
        val[i]["target_index"] for i in range(len(val))
    ]
    assert len({train[0]["target_index"] for _ in range(30)}) > 1


def test_split_is_by_whole_segments_with_a_guard_gap():
    times = T0 + np.arange(300, dtype=np.int64) * (NS // 10)  # 30 s at 10 Hz
    split = split_by_segments(times, segment_s=3.0, val_fraction=0.3, guard_s=0.5, seed=1)
    assert len(split.val_segments) == 3
    assert not set(split.train) & set(split.val)
    # Every training frame lies outside the validation segments; validation frames inside.
    assert not np.isin(split.segment[split.train], split.val_segments).any()
    assert np.isin(split.segment[split.val], split.val_segments).all()
    # No validation frame is within 0.5 s of a training frame.
    gaps = np.abs(times[split.val][:, None] - times[split.train][None, :]).min(axis=1)
    assert gaps.min() >= 0.5 * NS
    # Different seeds choose different segments; the same seed the same.
    again = split_by_segments(times, segment_s=3.0, val_fraction=0.3, guard_s=0.5, seed=1)
    np.testing.assert_array_equal(again.val, split.val)
    with pytest.raises(ValueError, match="too short"):
        split_by_segments(times[:20], segment_s=3.0, val_fraction=0.2, guard_s=0.5, seed=1)


def test_stride_keeps_every_nth_frame(tmp_path):
    path = tmp_path / "stride.mcap"
    times = write_bag(path, 20)
    frames = BagFrames(path, CAM, stride=3, cache_size=4)
    np.testing.assert_array_equal(frames.times, times[::3])
    np.testing.assert_allclose(frames[2], expected_input(6), atol=1e-6)


def test_memory_is_bounded_by_the_cache_on_a_bag_larger_than_it(tmp_path):
    path = tmp_path / "long.mcap"
    n, size = 150, (240, 320)  # 150 raw 320x240 frames: 34.6 MB of pixels in the bag
    write_bag(path, n, period_s=0.05, size=size)
    bag_bytes = n * size[0] * size[1] * 3
    tracemalloc.start()
    try:
        train, _ = build_bag_datasets(
            path, CAM, min_gap_s=0.3, max_gap_s=1.0, val_fraction=0.0, cache_size=10,
            progress=False,
        )  # fmt: skip
        for _ in range(2):
            for item in np.random.default_rng(0).permutation(len(train)):
                train[int(item)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    info = train.frames.cache_info()
    assert info.size <= 10 and info.misses > 2 * len(train) // 2
    assert peak < bag_bytes / 5, f"peak {peak / 1e6:.1f} MB for a {bag_bytes / 1e6:.1f} MB bag"
    # Frames re-read after eviction are the right ones.
    img = frame_image(123, *size)
    expected = to_tensor_layout(Letterbox.fit(size[1], size[0], 64).apply(img))
    np.testing.assert_allclose(train.frames[123], expected, atol=1e-6)


def test_dataset_survives_pickling_for_dataloader_workers(tmp_path):
    import pickle

    path = tmp_path / "pickle.mcap"
    write_bag(path, 30)
    train, _ = build_bag_datasets(path, CAM, val_fraction=0.0, cache_size=2, progress=False)
    clone = pickle.loads(pickle.dumps(train))
    assert isinstance(clone, BagPairDataset)
    np.testing.assert_allclose(clone.frames[0], expected_input(0), atol=1e-6)


def test_duplicate_timestamps_are_told_apart(tmp_path):
    path = tmp_path / "dup.mcap"
    with BagWriter(path) as w:
        w.add_topic(CAM, "sensor_msgs/msg/Image")
        for i in range(6):
            t = T0 + (i // 2) * NS  # two frames per timestamp
            w.write(CAM, image_message(w.typestore, frame_image(i), t), t)
    frames = BagFrames(path, CAM, cache_size=1)
    for i in (1, 3, 5, 0, 4):
        np.testing.assert_allclose(frames[i], expected_input(i), atol=1e-6)


# ------------------------------------------------------------------------- bad input


def test_truncated_mcap_is_one_clear_error(tmp_path):
    path = tmp_path / "killed.mcap"
    write_bag(path, 30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # what a killed recorder leaves
    with pytest.raises(BagError) as err:
        list(read_images(path, CAM))
    assert "killed.mcap" in str(err.value) and "truncated" in str(err.value)
    # The same inside a rosbag2 directory whose recorder never wrote metadata.yaml.
    directory = tmp_path / "killed_dir"
    directory.mkdir()
    (directory / "killed_dir_0.mcap").write_bytes(data[: len(data) // 3])
    with pytest.raises(BagError, match="truncated"):
        build_bag_datasets(directory, CAM, progress=False)
    # And with metadata.yaml present (written at a split) but the storage file cut short.
    complete = tmp_path / "complete"
    write_bag(complete, 30)
    storage = complete / "complete.mcap"
    storage.write_bytes(storage.read_bytes()[:-100])
    with pytest.raises(BagError, match=r"complete.*truncated"):
        list(read_images(complete, CAM))


def test_unknown_storage_format_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a bag")
    with pytest.raises(BagError, match=r"notes\.txt.*unknown storage format"):
        image_topics(text)
    directory = tmp_path / "weird"
    write_bag(directory, 3, storage="sqlite3")
    meta = directory / "metadata.yaml"
    meta.write_text(
        meta.read_text().replace("storage_identifier: sqlite3", "storage_identifier: zip")
    )
    with pytest.raises(BagError, match=r"weird.*unknown storage format.*zip"):
        list(read_images(directory, CAM))
    with pytest.raises(BagError, match="does not exist"):
        image_topics(tmp_path / "missing.mcap")


def test_missing_and_non_image_topics_are_clear_errors(tmp_path):
    path = tmp_path / "topics.mcap"

    def chatter(w):
        w.add_topic("/chatter", "std_msgs/msg/String")
        String = w.typestore.types["std_msgs/msg/String"]
        w.write("/chatter", String(data="hello"), T0)

    write_bag(path, 4, extra=chatter)
    with pytest.raises(BagError) as err:
        list(read_images(path, "/camera/missing"))
    assert err.value.topic == "/camera/missing" and "no such topic" in str(err.value)
    assert f"{CAM} (sensor_msgs/msg/Image, 4 messages)" in str(err.value)
    with pytest.raises(BagError) as err:
        build_bag_datasets(path, "/chatter", progress=False)
    assert "/chatter" in str(err.value) and "std_msgs/msg/String, not an image" in str(err.value)


def _mixed_bag(path: Path, bad: str, n_bad: int, n_good: int = 20) -> None:
    with BagWriter(path) as w:
        msgtype = "sensor_msgs/msg/CompressedImage" if bad == "jpeg" else "sensor_msgs/msg/Image"
        w.add_topic(CAM, msgtype)
        for i in range(n_good + n_bad):
            t = T0 + i * NS // 10
            if bad == "jpeg":
                msg = compressed_message(w.typestore, frame_image(i), t)
                if i % 3 == 1 and n_bad:
                    msg.data = np.frombuffer(b"\xff\xd8\xff garbage" * 20, np.uint8).copy()
                    n_bad -= 1
                    n_good += 1
            else:
                msg = image_message(w.typestore, frame_image(i), t)
                if i % 3 == 1 and n_bad:
                    msg.encoding = "32FC1"  # depth image: not a colour image
                    msg.step = 64 * 4
                    msg.data = np.zeros(48 * 64 * 4, np.uint8)
                    n_bad -= 1
                    n_good += 1
            w.write(CAM, msg, t)


@pytest.mark.parametrize(("bad", "reason"), [("jpeg", "corrupt"), ("encoding", "32FC1")])
def test_bad_messages_are_counted_skips_with_one_warning(tmp_path, bad, reason):
    path = tmp_path / f"{bad}.mcap"
    _mixed_bag(path, bad, n_bad=4, n_good=16)
    with pytest.warns(SkippedFramesWarning) as record:
        frames = list(read_images(path, CAM))
    assert len(frames) == 16
    assert len(record) == 1
    message = str(record[0].message)
    assert "skipped 4 of 20" in message and reason in message and CAM in message
    with pytest.warns(SkippedFramesWarning, match="skipped 4 of 20"):
        ds = BagFrames(path, CAM)
    assert len(ds) == 16 and ds.skipped.num_skipped == 4


def test_a_bag_without_decodable_frames_is_an_error(tmp_path):
    with BagWriter(tmp_path / "depth.mcap") as w:
        w.add_topic(CAM, "sensor_msgs/msg/Image")
        for i in range(5):
            msg = image_message(w.typestore, frame_image(i), T0 + i)
            msg.encoding, msg.step, msg.data = "32FC1", 256, np.zeros(48 * 256, np.uint8)
            w.write(CAM, msg, T0 + i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFramesWarning)
        with pytest.raises(BagError, match=r"no decodable image.*skipped 5 of 5.*32FC1"):
            build_bag_datasets(tmp_path / "depth.mcap", CAM, progress=False)


def test_a_corrupt_jpeg_decodes_to_a_skip_not_a_crash():
    from skeleton_perception.training.bags.decode import UndecodableFrameError, decode_image
    from skeleton_perception.training.bags.writer import make_typestore

    store = make_typestore()
    msg = compressed_message(store, frame_image(0), T0)
    ok = decode_image(msg)
    assert ok.shape == (48, 64, 3)
    _, png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))  # greyscale PNG decodes too
    msg.data = png.reshape(-1)
    assert decode_image(msg).shape == (4, 4, 3)
    msg.data = msg.data[:10]
    with pytest.raises(UndecodableFrameError) as err:
        decode_image(msg)
    assert err.value.reason == "corrupt"


# ------------------------------------------------------------------ formats and layouts


@pytest.mark.parametrize(
    ("encoding", "channels", "dtype"),
    [("rgba8", 4, np.uint8), ("bgra8", 4, np.uint8), ("mono16", 1, np.uint16),
     ("rgb16", 3, np.uint16), ("bayer_rggb8", 1, np.uint8), ("yuv422", 2, np.uint8)],
)  # fmt: skip
def test_common_encodings_decode_to_rgb(encoding, channels, dtype):
    from skeleton_perception.training.bags.decode import decode_image
    from skeleton_perception.training.bags.writer import make_typestore

    msg = image_message(make_typestore(), frame_image(0, 4, 6), T0)
    data = (np.arange(4 * 6 * channels) % 200).astype(dtype)
    msg.encoding, msg.step = encoding, 6 * channels * data.itemsize
    msg.data = data.view(np.uint8).reshape(-1)
    rgb = decode_image(msg)
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8


def test_padded_rows_are_unpadded():
    from skeleton_perception.training.bags.decode import decode_image
    from skeleton_perception.training.bags.writer import make_typestore

    img = frame_image(5)
    msg = image_message(make_typestore(), img, T0)
    padded = np.zeros((48, 64 * 3 + 8), np.uint8)
    padded[:, : 64 * 3] = img.reshape(48, -1)
    msg.step, msg.data = padded.shape[1], padded.reshape(-1)
    np.testing.assert_array_equal(decode_image(msg), img)


def test_ros1_bag_and_directory_without_metadata(tmp_path):
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    Image, Header = store.types["sensor_msgs/msg/Image"], store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    with Writer1(tmp_path / "old.bag") as w:
        conn = w.add_connection(CAM, "sensor_msgs/msg/Image", typestore=store)
        for i in range(4):
            msg = Image(
                header=Header(seq=i, stamp=Time(sec=i, nanosec=0), frame_id="c"), height=48,
                width=64, encoding="rgb8", is_bigendian=0, step=192,
                data=frame_image(i).reshape(-1),
            )  # fmt: skip
            w.write(conn, T0 + i, store.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    frames = list(read_images(tmp_path / "old.bag"))
    assert [np.array_equal(f, frame_image(i)) for i, (_, f) in enumerate(frames)] == [True] * 4
    # A rosbag2 directory whose metadata.yaml is missing: its one storage file is read.
    write_bag(tmp_path / "whole.mcap", 5)
    directory = tmp_path / "no_meta"
    directory.mkdir()
    (tmp_path / "whole.mcap").rename(directory / "no_meta_0.mcap")
    assert len(list(read_images(directory, CAM))) == 5
