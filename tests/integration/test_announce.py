"""Announcements: real espeak-ng WAVs per language, not silent (sox), never overlapping."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from display.announce import Announcer, Recorder, Synth

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="espeak-ng and sox needed"
)


def rms(path: Path) -> float:
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    m = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out)
    assert m, out
    return float(m.group(1))


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_each_language_is_spoken_and_not_silent(tmp_path: Path, lang: str) -> None:
    synth = Synth(cache_dir=tmp_path / "cache")
    out = tmp_path / f"{lang}.wav"
    texts = synth.announcement("A012", "3", [lang], False, out, chime=False)
    assert texts == [
        {
            "fi": "Numero A 12, palvelupiste 3",
            "sv": "Nummer A 12, disk 3",
            "en": "Number A-12, desk 3",
        }[lang]
    ]
    assert out.stat().st_size > 20_000
    assert rms(out) > 0.02
    chimed = tmp_path / f"{lang}-chime.wav"
    synth.announcement("A012", "3", [lang], True, chimed)
    assert rms(chimed) > 0.02
    assert (tmp_path / "cache").glob("chime-*.wav")


def test_calls_together_are_announced_one_after_another(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "rec", realtime=True)
    ann = Announcer(Synth(cache_dir=tmp_path / "cache", speed=260), rec)
    ann.announce("A012", "3", ["fi"])
    ann.announce("K004", "2", ["en", "fi"], recall=True)
    assert ann.wait_idle(90)
    ann.stop()
    lines = [
        json.loads(x) for x in (tmp_path / "rec" / "announcements.jsonl").read_text().splitlines()
    ]
    assert [x["number"] for x in lines] == ["A012", "K004"]
    assert lines[1]["texts"] == [
        "Number K-4, desk 2, again",
        "Numero K 4, palvelupiste 2, uudelleen",
    ]
    assert lines[0]["end"] <= lines[1]["start"]  # no overlap
    for x in lines:
        assert x["end"] - x["start"] >= x["seconds"] * 0.9
        assert rms(tmp_path / "rec" / x["file"]) > 0.02
