"""A subscription that a worker thread takes from itself, newest message first.

The executor never sees it: its callback group refuses execution, so the executor
neither wakes up for its messages nor takes them. A worker thread waits on it with its
own wait set and, when it is free, takes everything that arrived and keeps the newest.
Messages that arrive while the worker is busy stay in the DDS reader's history (bounded
by the QoS depth; the oldest is overwritten) and cost the Python interpreter nothing.

Why: rclpy's Python executors spend about 0.5 ms of interpreter time per message on
their own bookkeeping. For a 640x480 camera flooding a node whose model takes ~4 ms, that
is time the inference thread loses to the GIL (the detector kept 0.76 of its model's rate
under a 400 Hz flood when the executor took every image; see docs/ros.md). Taking from
the worker costs about 0.1-0.2 ms per 640x480 image and only when the worker is free.

The wait uses rclpy's ``WaitSet`` binding the same way ``rclpy.wait_for_message`` does.
"""

from __future__ import annotations

from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions


class NeverExecutedCallbackGroup(CallbackGroup):
    """A callback group whose entities no executor waits on or runs."""

    def can_execute(self, entity: Any) -> bool:  # noqa: D102 (see CallbackGroup)
        return False

    def beginning_execution(self, entity: Any) -> bool:  # noqa: D102
        return False

    def ending_execution(self, entity: Any) -> None:  # noqa: D102
        pass


class WorkerSubscription:
    """A subscription of ``node`` read by one worker thread with :meth:`take_newest`.

    Args:
        node: the node that owns the subscription (it shows in ``ros2 node info``).
        msg_type: the message class.
        topic: the topic name (relative names are resolved by the node).
        qos: the QoS profile; its depth bounds how many messages one call can see.
        qos_overriding_options: as for ``Node.create_subscription``.
    """

    def __init__(
        self,
        node: Node,
        msg_type: Any,
        topic: str,
        qos: QoSProfile,
        qos_overriding_options: QoSOverridingOptions | None = None,
    ) -> None:
        self.subscription = node.create_subscription(
            msg_type,
            topic,
            self._executed_by_mistake,
            qos,
            callback_group=NeverExecutedCallbackGroup(),
            qos_overriding_options=qos_overriding_options,
        )
        self._wake = GuardCondition(None, None, context=node.context)
        self._wait_set = _rclpy.WaitSet(1, 1, 0, 0, 0, 0, node.context.handle)
        self._closed = False

    @property
    def topic_name(self) -> str:
        """The fully resolved topic name."""
        return self.subscription.topic_name

    def take_newest(self, timeout_s: float) -> tuple[Any | None, dict, int]:
        """Waits for a message, then takes all that arrived; call from one thread only.

        Args:
            timeout_s: the longest wait in seconds.

        Returns:
            (the newest message, its message info, how many were taken), or
            (None, {}, 0) after a timeout or :meth:`close`. The info is rclpy's dict
            (``publisher_gid``, ``publication_sequence_number``, ``received_timestamp``...).
        """
        if self._closed:
            return None, {}, 0
        sub = self.subscription
        ws = self._wait_set
        ws.clear_entities()
        with sub.handle, self._wake.handle:
            ws.add_subscription(sub.handle)
            ws.add_guard_condition(self._wake.handle)
            ws.wait(int(timeout_s * 1e9))
        if self._closed or not ws.get_ready_entities("subscription"):
            return None, {}, 0
        newest, info, taken = None, {}, 0
        while True:
            with sub.handle:
                got = sub.handle.take_message(sub.msg_type, sub.raw)
            if got is None:
                return newest, info, taken
            (newest, info), taken = got, taken + 1

    def close(self) -> None:
        """Wakes a waiting :meth:`take_newest` (it returns (None, 0)) and refuses more."""
        self._closed = True
        self._wake.trigger()

    def destroy(self, node: Node) -> None:
        """Closes and destroys the subscription; the worker must have stopped."""
        self.close()
        node.destroy_subscription(self.subscription)
        self._wake.destroy()

    def _executed_by_mistake(self, msg: Any) -> None:
        raise RuntimeError(
            f"{self.subscription.topic_name}: this subscription is read by a worker thread; "
            "an executor must not run it"
        )
