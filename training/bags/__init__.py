"""Training from recorded bags: reading images, pair datasets, recording the simulator.

* :mod:`.reader`: open a bag (rosbag2 sqlite3/mcap, ROS 1) with ``rosbags`` and yield
  ``(t_ns, rgb)`` frames of an image topic; :class:`~.reader.BagError` for unusable input.
* :mod:`.dataset`: :func:`~.dataset.build_bag_datasets`, streaming train/validation pairs.
* :mod:`.writer`: atomic rosbag2 writing with our message types registered.
* :mod:`.record_sim` and :mod:`.predict`: the ``record-sim`` and ``predict`` commands.
"""
