"""skeleton_perception.training: the offline part of skeleton_perception.

Simulated data generation (:mod:`.sim`), rosbag ingestion (:mod:`.bags`), losses and the
training loop, evaluation (:mod:`.evaluation`), baselines (:mod:`.baselines`): the
commands that ``skeleton-perception`` (:mod:`skeleton_perception.cli`) dispatches to.
Never imports rclpy or the nodes.
"""
