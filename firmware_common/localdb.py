"""A device's small durable SQLite file (the outbox, the kiosk's offline numbers)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: str | Path) -> sqlite3.Connection:
    """Open (creating its folder) a SQLite file in WAL mode with `synchronous=FULL`:
    what is written is on disk when the call returns, so a power cut loses nothing.
    Autocommit; usable from several threads (callers serialise with their own lock)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db
