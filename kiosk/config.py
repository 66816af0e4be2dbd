"""The kiosk's configuration file (`vuoro kiosk --config kiosk.toml`).

```toml
[device]
id = "kiosk-kuopio-1"
site = "kuopio"

[mqtt]
host = "vuoro.example.fi"
port = 8883
tls = true
ca_file = "/etc/vuoro/ca.pem"
password_file = "/etc/vuoro/kiosk.secret"   # the username is the device id

[kiosk]
reader = "pcsc"                 # "pcsc", "pcsc:<reader name part>", "fake", "none"
printer = "usb:0x04b8:0x0e28"   # required: see kiosk/hardware.py; "none" = no printer
idle_timeout_s = 45
outbox = "/var/lib/vuoro/kiosk-outbox.db"
fullscreen = true
```

Every scalar can be overridden from the environment, e.g. `VUORO_KIOSK_PRINTER=dummy`
or `VUORO_MQTT_HOST=10.0.0.2` (firmware_common/config.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from firmware_common import config as fc
from firmware_common import protocol as p
from firmware_common.mqtt import MqttSettings


class DeviceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    site: str

    @field_validator("id")
    @classmethod
    def _device_id(cls, v: str) -> str:
        if not p.DEVICE_ID_RE.match(v):
            raise ValueError("a device id is like 'kiosk-kuopio-1' (a-z, 0-9, dashes)")
        return v


class KioskSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: str = "pcsc"
    # No default printer model: a production kiosk names its printer; "none" prints
    # nothing (the number is shown big with a QR code instead).
    printer: str = "none"
    idle_timeout_s: float = Field(default=45.0, ge=5, le=3600)
    request_timeout_s: float = Field(default=2.0, gt=0, le=30)
    outbox: str = "/var/lib/vuoro/kiosk-outbox.db"
    fullscreen: bool = True
    width: int | None = Field(default=None, ge=320)
    height: int | None = Field(default=None, ge=320)
    timezone: str = "Europe/Helsinki"
    language: str = Field(default="fi", pattern="^(fi|sv|en)$")  # the start language

    @property
    def window_size(self) -> tuple[int, int] | None:
        if self.width and self.height:
            return (self.width, self.height)
        return None

    @property
    def offline_path(self) -> Path:
        """The offline-number counters: a small SQLite file next to the outbox."""
        out = Path(self.outbox)
        return out.with_name(f"{out.stem}-numbers.db")


class KioskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: DeviceSection
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    kiosk: KioskSection = Field(default_factory=KioskSection)


def load_settings(path: str | Path, env: dict[str, str] | None = None) -> KioskSettings:
    return fc.load(KioskSettings, path, env)
