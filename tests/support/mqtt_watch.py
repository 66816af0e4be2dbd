"""A watcher of retained and live messages with the demo's read-only `monitor` account:
the newest payload of every topic under a filter (an empty retained message: None)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.waiting import wait_until


class Watch:
    def __init__(self, host: str, port: int, username: str, password: str, topic_filter: str):
        self.latest: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{username}-watch-{id(self)}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload) if msg.payload else None
        with self.lock:
            self.latest[msg.topic] = body

    def get(self, topic: str) -> Any:
        with self.lock:
            return self.latest.get(topic, "(never)")

    def wait(self, topic: str, pred: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        def find() -> Any:
            with self.lock:
                if topic not in self.latest:
                    return None
                got = self.latest[topic]
            return (got if got is not None else {"cleared": True}) if pred(got) else None

        return wait_until(find, timeout, f"{topic} to match")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def watch_demo(demo: Any, topic_filter: str) -> Watch:
    return Watch(
        demo.broker.host,
        demo.broker.port,
        demo.monitor.username,
        demo.monitor.password,
        topic_filter,
    )
