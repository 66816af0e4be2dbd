"""Shared fixtures: real Mosquitto, real SQLite and PostgreSQL (see ARCHITECTURE.md)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware_common.mqtt import DeviceClient, MqttSettings
from scheduler.store.db import Store
from scheduler.store.private_pg import PrivatePostgres
from vuoro.demo import Demo


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite (WAL) and on a private PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vuoro.db'}"
    pg: PrivatePostgres = request.getfixturevalue("postgres")
    return pg.new_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """A running broker + scheduler with the bundled demo site, on SQLite."""
    d = Demo(workdir=tmp_path / "demo")
    d.start()
    yield d
    d.stop()


@pytest.fixture
def connect(demo: Demo, tmp_path: Path) -> Iterator[Callable[..., DeviceClient]]:
    """connect("kiosk-demo-1") -> a started, connected DeviceClient for that demo device."""
    clients: list[DeviceClient] = []

    def _connect(
        device_id: str, *, outbox: bool = False, password: str | None = None
    ) -> DeviceClient:
        dev = demo.device(device_id)
        settings = MqttSettings(
            host=demo.broker.host,
            port=demo.broker.port,
            username=dev.username,
            password=password or dev.password,
            reconnect_min_s=1,
            reconnect_max_s=2,
        )
        c = DeviceClient(
            settings,
            device_id=device_id,
            site=demo.site,
            role=dev.role,
            outbox_path=tmp_path / f"outbox-{device_id}.db" if outbox else None,
        )
        c.start()
        assert c.connected.wait(10), f"{device_id} did not connect"
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        c.stop()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
