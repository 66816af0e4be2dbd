"""The scheduler's configuration file (documented in docs/configuration.md).

`load_config(path)` reads the TOML file, applies `VUORO_*` environment overrides and
returns a checked `SchedulerConfig`, whose `site_defs()` are the domain's definitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from firmware_common import config as cfg
from firmware_common.protocol import DEVICE_ID_RE, SITE_RE
from scheduler.booking.config import (
    BookingCfg,
    ServiceBookingCfg,
    SiteBookingCfg,
    check_site_booking,
)
from scheduler.domain.hours import WeeklyHours
from scheduler.domain.model import DeskDef, DeviceDef, QueueDef, ServiceDef, SiteDef

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
DeskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
Hours = dict[str, list[str] | str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Names(_Strict):
    fi: str
    sv: str
    en: str


class QueueCfg(_Strict):
    id: Ident
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
    name: Names
    weight: Annotated[float, Field(gt=0)] = 1.0
    sl_target_min: Annotated[float, Field(gt=0)] = 15.0
    max_waiting: Annotated[int, Field(ge=1)] | None = None
    mean_service_min: Annotated[float, Field(gt=0)] = 8.0


class ServiceCfg(_Strict):
    id: Ident
    name: Names
    provider: Ident
    queue: Ident
    walk_in: bool = True
    appointments: bool = False
    walk_in_hours: Hours | None = None
    instructions: Names | None = None
    booking: ServiceBookingCfg | None = None  # duration, needed resources, pre-questions


class DeskCfg(_Strict):
    id: DeskId
    name: str | None = None
    queues: list[Ident]


class DeviceCfg(_Strict):
    id: Annotated[str, StringConstraints(pattern=DEVICE_ID_RE.pattern)]
    role: Literal["kiosk", "display", "desk"]
    desks: list[DeskId] = []
    layout: Literal["landscape", "portrait"] = "landscape"


class SiteCfg(_Strict):
    id: Annotated[str, StringConstraints(pattern=SITE_RE.pattern)]
    name: Names
    timezone: str = "Europe/Helsinki"
    languages: list[Literal["fi", "sv", "en"]] = ["fi", "sv", "en"]
    hours: Hours | None = None
    message: Names | None = None
    queues: list[QueueCfg]
    services: list[ServiceCfg]
    desks: list[DeskCfg] = []
    devices: list[DeviceCfg] = []
    booking: SiteBookingCfg | None = None  # rules, advisors, extra resources

    @model_validator(mode="after")
    def _cross_check(self) -> SiteCfg:
        where = f"site {self.id!r}"
        _unique([q.id for q in self.queues], f"{where}: queue id")
        _unique([q.prefix for q in self.queues], f"{where}: queue prefix")
        _unique([s.id for s in self.services], f"{where}: service id")
        _unique([d.id for d in self.desks], f"{where}: desk id")
        _unique([d.id for d in self.devices], f"{where}: device id")
        queues = {q.id for q in self.queues}
        desks = {d.id for d in self.desks}
        for s in self.services:
            if s.queue not in queues:
                raise ValueError(f"{where}: service {s.id!r} feeds unknown queue {s.queue!r}")
        for d in self.desks:
            for q in d.queues:
                if q not in queues:
                    raise ValueError(f"{where}: desk {d.id!r} serves unknown queue {q!r}")
        for dev in self.devices:
            if dev.role == "desk" and not dev.desks:
                raise ValueError(f"{where}: desk device {dev.id!r} names no desks")
            for d in dev.desks:
                if d not in desks:
                    raise ValueError(f"{where}: device {dev.id!r} names unknown desk {d!r}")
        try:
            WeeklyHours.from_mapping(self.hours or {})
            for s in self.services:
                WeeklyHours.from_mapping(s.walk_in_hours or {})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:
            raise ValueError(f"{where}: unknown timezone {self.timezone!r}") from None
        check_site_booking(self)
        return self

    def to_domain(self) -> SiteDef:
        return SiteDef(
            id=self.id,
            name=self.name.model_dump(),
            timezone=self.timezone,
            languages=tuple(self.languages),
            hours=WeeklyHours.from_mapping(self.hours) if self.hours else WeeklyHours.always(),
            message=self.message.model_dump() if self.message else None,
            queues={
                q.id: QueueDef(
                    id=q.id,
                    prefix=q.prefix,
                    name=q.name.model_dump(),
                    weight=q.weight,
                    sl_target_min=q.sl_target_min,
                    max_waiting=q.max_waiting,
                    mean_service_min=q.mean_service_min,
                )
                for q in self.queues
            },
            services={
                s.id: ServiceDef(
                    id=s.id,
                    name=s.name.model_dump(),
                    provider=s.provider,
                    queue=s.queue,
                    walk_in=s.walk_in,
                    appointments=s.appointments,
                    walk_in_hours=(
                        WeeklyHours.from_mapping(s.walk_in_hours) if s.walk_in_hours else None
                    ),
                    instructions=s.instructions.model_dump() if s.instructions else None,
                )
                for s in self.services
            },
            desks={d.id: DeskDef(id=d.id, queues=tuple(d.queues), name=d.name) for d in self.desks},
            devices={
                d.id: DeviceDef(id=d.id, role=d.role, desks=tuple(d.desks), layout=d.layout)
                for d in self.devices
            },
        )


class MqttCfg(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str = "scheduler"
    password: str | None = None
    password_file: str | None = None
    client_id: str = "scheduler"
    tls: bool = False
    ca_file: str | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30

    def secret(self) -> str | None:
        if self.password is not None:
            return self.password
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise cfg.ConfigError(
                    f"mqtt.password_file {self.password_file}: {exc.strerror}"
                ) from None
        return None


class SchedulerCfg(_Strict):
    database: str = "sqlite:///var/lib/vuoro/vuoro.db"
    status_url_base: str = "http://localhost:8080/t/"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    batch_max: Annotated[int, Field(ge=1, le=1000)] = 200


class SchedulerConfig(_Strict):
    scheduler: SchedulerCfg = SchedulerCfg()
    mqtt: MqttCfg = MqttCfg()
    booking: BookingCfg = BookingCfg()
    sites: list[SiteCfg]

    @model_validator(mode="after")
    def _unique_ids(self) -> SchedulerConfig:
        _unique([s.id for s in self.sites], "site id")
        _unique([d.id for s in self.sites for d in s.devices], "device id (across sites)")
        if not self.sites:
            raise ValueError("at least one [[sites]] table is needed")
        return self

    def site_defs(self) -> dict[str, SiteDef]:
        return {s.id: s.to_domain() for s in self.sites}


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} appears twice")
        seen.add(v)


def load_config(path: str | Path) -> SchedulerConfig:
    return cfg.load(SchedulerConfig, path)


DEMO_SITE = Path(__file__).parent / "sites" / "demo.toml"
