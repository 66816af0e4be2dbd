"""The lobby display's configuration file (`vuoro display --config display.toml`).

```toml
[device]
id = "display-kuopio-1"      # the MQTT username and client id (from provisioning)
site = "kuopio"

[mqtt]
host = "broker.local"
port = 8883
tls = true
password_file = "/etc/vuoro/display.secret"

[display]
layout = "auto"              # auto (from the screen's shape) | landscape | portrait
fullscreen = true
announce = true              # chime and spoken announcement of each call
player = "auto"              # auto | aplay | paplay | sox | record:/some/folder | none
audio_device = "hw:0,0"      # ALSA device for aplay (PulseAudio sink for paplay)
languages = ["fi", "sv"]     # override the scheduler's list (optional)
rotate_s = 8                 # seconds per language when there are several
```
Every key can be overridden from the environment, e.g. `VUORO_DISPLAY_AUDIO_DEVICE=hw:1,0`
(see firmware_common/config.py).

The display's MQTT defaults differ from the other roles' in two places: a short
keepalive (5 s) so that a silently dropped link shows the offline mark quickly, and a
short reconnect back-off (1-2 s) so that the screen is back within seconds of the broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from firmware_common import config as fc
from firmware_common.mqtt import MqttSettings
from firmware_common.protocol import Lang

DISPLAY_MQTT_DEFAULTS: dict[str, Any] = {"keepalive": 5, "reconnect_min_s": 1, "reconnect_max_s": 2}


class DeviceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    site: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")


class DisplaySection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layout: Literal["auto", "landscape", "portrait"] = "auto"
    fullscreen: bool = False
    announce: bool = True
    player: str = "auto"
    audio_device: str | None = None
    languages: list[Lang] | None = None
    rotate_s: float = Field(default=8.0, gt=0.5, le=600)
    blink_s: float = Field(default=6.0, ge=0, le=60)
    voices: dict[str, str] = Field(default_factory=dict)
    """espeak-ng voice per language, e.g. {en = "en-gb"}; default: the language code."""
    speed: int = Field(default=150, ge=80, le=400)
    """Speaking rate of espeak-ng, words per minute (its default is 175)."""
    volume: int = Field(default=100, ge=0, le=200)
    """espeak-ng amplitude, 0-200."""
    cache_dir: str | None = None
    """Where the chime is kept (default: a folder under the user's cache)."""
    max_age_s: float = Field(default=120.0, gt=0)
    """Calls older than this when they arrive (queued while the link was down) are shown
    but not announced."""


class DisplaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: DeviceSection
    mqtt: MqttSettings = Field(default_factory=lambda: MqttSettings(**DISPLAY_MQTT_DEFAULTS))
    display: DisplaySection = Field(default_factory=DisplaySection)

    @model_validator(mode="before")
    @classmethod
    def _display_mqtt_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("mqtt"), dict):
            data = {**data, "mqtt": {**DISPLAY_MQTT_DEFAULTS, **data["mqtt"]}}
        return data


def load_settings(path: str | Path) -> DisplaySettings:
    """Read and validate a display's TOML file (with VUORO_* environment overrides)."""
    return fc.load(DisplaySettings, path)
