"""Training from recorded bags: reading images, pair datasets, recording the simulator.

* :mod:`.reader`: open a bag (rosbag2 sqlite3/mcap, ROS 1) with ``rosbags`` and yield
  ``(t_ns, rgb)`` frames of an image topic; :class:`~.reader.BagError` for unusable input.
* :mod:`.decode`: Image / CompressedImage messages -> RGB with ``rosbags-image``.
* :mod:`.dataset`: :func:`~.dataset.build_bag_datasets`, streaming train/validation pairs.
* :mod:`.options`: the ``train --bag`` command-line options and the datasets they build.
* :mod:`.writer`: atomic rosbag2 writing with our message types registered.
* :mod:`.record_sim` and :mod:`.predict`: the ``record-sim`` and ``predict`` commands.
* :mod:`.scoring`: the paper's metrics on a recorded simulated bag (its ground truth).

None of it imports rclpy; ``docs/bags.md`` describes the workflow.
"""
