"""Chime and spoken announcement of each call, one after the other.

`Announcer.announce(number, desk, lang, recall)` puts a call on a queue; one worker
thread makes the sound of each call in turn (a two-tone chime, then the words in each
language, synthesised by espeak-ng) and hands it to the player, which returns when the
sound has played. So calls that arrive together are announced one after another, never
over each other.

Which languages: the ticket's language (the event's `lang`, the customer's choice at the
kiosk) first, because that is the person being called; then the site's first language
(usually Finnish) if it is a different one, so that the rest of the room, and anyone who
took a ticket in another language by mistake, can follow. Only languages of the site's
list (or the ticket's) are spoken; `languages_for()` is the rule.

Wording ("A012" is spoken as the letter and the number, "A 12"):
- fi: "Numero A 12, palvelupiste 3" — a recall adds ", uudelleen"
- sv: "Nummer A 12, disk 3" — a recall adds ", igen"
- en: "Number A-12, desk 3" — a recall adds ", again" (the hyphen keeps espeak-ng
  from reading the letter A as the article "a")

Players, picked by a config string like the other hardware adapters (ARCHITECTURE.md):
`aplay` (ALSA, `-D <audio_device>`), `paplay` (PulseAudio, `--device=<sink>`), `sox`
(`play`, AUDIODEV=<device>), `record:<folder>` (`Recorder`: writes every announcement's
WAV to a folder, with its start and end times, for tests and headless runs), `none`, and
`auto` (the first of aplay, paplay, play that is installed; else none).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("vuoro.display.announce")

WORDS = {
    "fi": ("Numero {n}, palvelupiste {desk}", ", uudelleen"),
    "sv": ("Nummer {n}, disk {desk}", ", igen"),
    "en": ("Number {n}, desk {desk}", ", again"),
}


def spoken_number(number: str, lang: str) -> str:
    """ "A012" -> "A 12" ("A-12" in English); anything else as it is."""
    letters = number.rstrip("0123456789")
    digits = number[len(letters) :]
    if not letters or not digits:
        return number
    n = str(int(digits))
    return f"{letters}-{n}" if lang == "en" else f"{letters} {n}"


def announcement_text(number: str, desk: str, lang: str, recall: bool = False) -> str:
    base, again = WORDS.get(lang, WORDS["en"])
    text = base.format(n=spoken_number(number, lang), desk=desk)
    return text + (again if recall else "")


def languages_for(ticket_lang: str | None, site_languages: list[str]) -> list[str]:
    """The ticket's language first, then the site's first language if different."""
    out: list[str] = []
    if ticket_lang in WORDS:
        out.append(ticket_lang)  # type: ignore[arg-type]
    site = [x for x in site_languages if x in WORDS]
    if site and site[0] not in out:
        out.append(site[0])
    return out or ["fi"]


# ---------------------------------------------------------------------------- sound


@dataclass(frozen=True)
class Format:
    rate: int = 22050  # espeak-ng's output
    channels: int = 1
    width: int = 2


def chime_frames(fmt: Format, volume: float = 0.45) -> bytes:
    """A soft two-tone chime ("ding-dong": E5 then C5, bell-like decay), 1.3 s."""
    out = bytearray()
    notes = ((659.25, 0.0, 1.3), (523.25, 0.45, 0.85))
    total = int(fmt.rate * 1.3)
    samples = [0.0] * total
    for freq, start, dur in notes:
        s0 = int(start * fmt.rate)
        for i in range(int(dur * fmt.rate)):
            t = i / fmt.rate
            env = min(1.0, t / 0.01) * math.exp(-3.2 * t)
            v = math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)
            if s0 + i < total:
                samples[s0 + i] += env * v / 1.3
    peak = max(1e-9, max(abs(x) for x in samples))
    scale = volume * 32767 / max(1.0, peak)
    for x in samples:
        out += struct.pack("<h", int(max(-32767, min(32767, x * scale)))) * fmt.channels
    return bytes(out)


def silence(fmt: Format, seconds: float) -> bytes:
    return b"\0" * (int(fmt.rate * seconds) * fmt.channels * fmt.width)


def read_wav(path: Path) -> tuple[Format, bytes]:
    with wave.open(str(path), "rb") as w:
        return Format(w.getframerate(), w.getnchannels(), w.getsampwidth()), w.readframes(
            w.getnframes()
        )


def write_wav(path: Path, fmt: Format, frames: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(fmt.width)
        w.setframerate(fmt.rate)
        w.writeframes(frames)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class Synth:
    """espeak-ng to WAV, plus the cached chime."""

    def __init__(
        self,
        *,
        voices: dict[str, str] | None = None,
        speed: int = 150,
        volume: int = 100,
        cache_dir: str | Path | None = None,
        espeak: str = "espeak-ng",
    ) -> None:
        self.voices = {"fi": "fi", "sv": "sv", "en": "en", **(voices or {})}
        self.speed = speed
        self.volume = volume
        self.espeak = espeak
        base = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vuoro"
        self.cache = Path(base)

    def speak(self, text: str, lang: str, out: Path) -> tuple[Format, bytes]:
        # Niced: the screen must not wait for speech synthesis on a small CPU.
        argv = [
            *(["nice", "-n", "10"] if shutil.which("nice") else []),
            self.espeak,
            "-v",
            self.voices.get(lang, lang),
            "-s",
            str(self.speed),
            "-a",
            str(self.volume),
            "-w",
            str(out),
            text,
        ]
        subprocess.run(argv, check=True, capture_output=True, timeout=20)
        return read_wav(out)

    def chime(self, fmt: Format) -> bytes:
        path = self.cache / f"chime-{fmt.rate}-{fmt.channels}-{fmt.width}.wav"
        try:
            if path.exists():
                got, frames = read_wav(path)
                if got == fmt:
                    return frames
        except (OSError, wave.Error, EOFError):
            pass
        frames = chime_frames(fmt)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            write_wav(tmp, fmt, frames)
            tmp.replace(path)
        return frames

    def announcement(
        self,
        number: str,
        desk: str,
        langs: list[str],
        recall: bool,
        out: Path,
        *,
        chime: bool = True,
    ) -> list[str]:
        """Write chime + the words in each language, as one WAV, to `out`; return the texts."""
        texts = [announcement_text(number, desk, lang, recall) for lang in langs]
        parts: list[bytes] = []
        fmt: Format | None = None
        with tempfile.TemporaryDirectory(prefix="vuoro-say-") as tmp:
            for i, (lang, text) in enumerate(zip(langs, texts, strict=True)):
                got, frames = self.speak(text, lang, Path(tmp) / f"{i}.wav")
                if fmt is None:
                    fmt = got
                elif got != fmt:
                    log.warning("espeak-ng gave %s for %s, not %s; skipped", got, lang, fmt)
                    continue
                parts.append(frames)
        fmt = fmt or Format()
        gap = silence(fmt, 0.6)
        body = gap.join(parts)
        head = self.chime(fmt) + silence(fmt, 0.25) if chime else b""
        write_wav(out, fmt, head + body + silence(fmt, 0.3))
        return texts


# ---------------------------------------------------------------------------- players


class Player(Protocol):
    def play(self, wav: Path, meta: dict[str, object]) -> None:
        """Play the file; return when it has played."""


class NullPlayer:
    def play(self, wav: Path, meta: dict[str, object]) -> None:
        return None


class CommandPlayer:
    """Plays with a command (aplay, paplay, play), waiting for it to finish."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = env

    def play(self, wav: Path, meta: dict[str, object]) -> None:
        env = {**os.environ, **self.env} if self.env else None
        try:
            subprocess.run(
                [*self.argv, str(wav)], check=True, capture_output=True, timeout=60, env=env
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("could not play the announcement (%s): %s", " ".join(self.argv), exc)


class Recorder:
    """Writes each announcement to a folder instead of playing it.

    `NNNN-<number>-<desk>.wav` and a line in `announcements.jsonl` with the texts and the
    start and end of the (simulated) playback. With `realtime`, play() takes as long as
    the sound, like a speaker would."""

    def __init__(self, folder: str | Path, *, realtime: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.realtime = realtime
        self.count = 0
        self.lock = threading.Lock()

    def play(self, wav: Path, meta: dict[str, object]) -> None:
        start = time.time()
        with self.lock:
            self.count += 1
            n = self.count
        name = f"{n:04d}-{meta.get('number')}-{meta.get('desk')}.wav"
        shutil.copyfile(wav, self.folder / name)
        seconds = wav_seconds(wav)
        if self.realtime:
            time.sleep(seconds)
        end = time.time()
        line = {**meta, "file": name, "start": start, "end": end, "seconds": seconds}
        with (self.folder / "announcements.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def make_player(spec: str, device: str | None = None) -> Player:
    """`auto` | `aplay` | `paplay` | `sox` | `record:<folder>` | `record-fast:<folder>`
    | `none`."""
    spec = spec.strip()
    if spec.startswith("record:"):
        return Recorder(spec.split(":", 1)[1])
    if spec.startswith("record-fast:"):  # no waiting for the length of the sound
        return Recorder(spec.split(":", 1)[1], realtime=False)
    if spec == "none":
        return NullPlayer()
    if spec == "auto":
        for name, tool in (("aplay", "aplay"), ("paplay", "paplay"), ("sox", "play")):
            if shutil.which(tool):
                return make_player(name, device)
        log.warning("no audio player found (aplay, paplay, play): announcements are silent")
        return NullPlayer()
    if spec == "aplay":
        return CommandPlayer(["aplay", "-q", *(["-D", device] if device else [])])
    if spec == "paplay":
        return CommandPlayer(["paplay", *([f"--device={device}"] if device else [])])
    if spec in ("sox", "play"):
        return CommandPlayer(["play", "-q"], env={"AUDIODEV": device} if device else None)
    raise ValueError(
        f"unknown player {spec!r}: use auto, aplay, paplay, sox, record:<folder> or none"
    )


# ---------------------------------------------------------------------------- announcer


@dataclass(frozen=True)
class Job:
    number: str
    desk: str
    langs: tuple[str, ...]
    recall: bool


class Announcer:
    """One queue and one worker: announcements never overlap.

    At most `max_waiting` announcements wait; when more calls come at once (a burst of
    desks pressing "next"), the oldest waiting ones are dropped: each is still on the
    screen, and announcing it half a minute late would only confuse."""

    def __init__(
        self, synth: Synth, player: Player, *, chime: bool = True, max_waiting: int = 4
    ) -> None:
        self.synth = synth
        self.player = player
        self.chime = chime
        self.max_waiting = max_waiting
        self.dropped = 0
        self._q: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="vuoro-announce-"))
        self.done = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout)
            self._thread = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def announce(self, number: str, desk: str, langs: list[str], recall: bool = False) -> None:
        self.start()
        while self._q.qsize() >= self.max_waiting:
            try:
                old = self._q.get_nowait()
            except queue.Empty:
                break
            self._q.task_done()
            if old is None:  # stopping
                self._q.put(None)
                return
            self.dropped += 1
            log.info("too many calls at once: %s at desk %s not announced", old.number, old.desk)
        self._q.put(Job(number, desk, tuple(langs), recall))

    def idle(self) -> bool:
        return self._q.unfinished_tasks == 0

    def wait_idle(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle():
                return True
            time.sleep(0.05)
        return self.idle()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            try:
                if job is None:
                    return
                self._say(job)
            except Exception:
                log.exception("announcement of %s failed", job.number if job else "?")
            finally:
                self._q.task_done()

    def _say(self, job: Job) -> None:
        out = self._tmp / "call.wav"
        texts = self.synth.announcement(
            job.number, job.desk, list(job.langs), job.recall, out, chime=self.chime
        )
        meta: dict[str, object] = {
            "number": job.number,
            "desk": job.desk,
            "langs": list(job.langs),
            "recall": job.recall,
            "texts": texts,
        }
        self.player.play(out, meta)
        self.done += 1
