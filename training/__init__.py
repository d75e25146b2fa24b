"""skeleton_perception.training: the offline part of skeleton_perception.

Simulated data generation (:mod:`.sim`), rosbag ingestion (:mod:`.bags`), losses and the
training loop, evaluation (:mod:`.evaluation`), baselines (:mod:`.baselines`) and the
``skeleton-perception`` command line (:mod:`.cli`). Never imports rclpy.
"""
