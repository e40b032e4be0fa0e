"""The control plane's registry: applications, processes, snapshots and held messages in SQLite.

Every change is committed before the control plane acts on it, so a control plane killed at
any point restarts with what it had promised. All methods are thread-safe. The database holds the
applications' secret keys: it is created readable by its owner only (0600), like its journal files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praas_kit.lifecycle import Status

#: columns added after the first release, for databases made before them
MIGRATIONS = {"apps": ("client_public TEXT", "client_secret TEXT", "snapshot_key TEXT", "resume_failed INTEGER"),
              "processes": ("public_key TEXT", "log TEXT")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
  name TEXT PRIMARY KEY, code TEXT, image TEXT, vcpus REAL, memory_mb INTEGER, workers INTEGER,
  created REAL, client_public TEXT, client_secret TEXT, snapshot_key TEXT, resume_failed INTEGER);
CREATE TABLE IF NOT EXISTS processes (
  app TEXT, name TEXT, status TEXT, vcpus REAL, memory_mb INTEGER, pooled INTEGER, address TEXT,
  handle TEXT, incarnation TEXT, created REAL, updated REAL, error TEXT, public_key TEXT, log TEXT,
  PRIMARY KEY (app, name));
CREATE TABLE IF NOT EXISTS snapshots (
  app TEXT, process TEXT, snapshot TEXT, bytes INTEGER, seconds REAL, created REAL,
  PRIMARY KEY (app, process, snapshot));
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT, dst TEXT, src TEXT, ep TEXT, key TEXT, seq INTEGER,
  payload BLOB);
"""


@dataclass
class AppRecord:
    """An application."""

    name: str
    code: str | None
    image: str | None
    vcpus: float
    memory_mb: int
    workers: int
    created: float
    client_public: str | None = None  # the key pair of the application's SDK clients (never in to_json)
    client_secret: str | None = None
    snapshot_key: str | None = None  # hex; its processes' snapshot keys derive from it (never in to_json)
    resume_failed: bool = False  # a call swaps a FAILED process in by itself

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "image": self.image, "vcpus": self.vcpus,
                "memory_mb": self.memory_mb, "function_workers": self.workers, "created": self.created,
                "resume_failed": bool(self.resume_failed)}


@dataclass
class ProcRecord:
    """A process as the registry knows it."""

    app: str
    name: str
    status: Status
    vcpus: float
    memory_mb: int
    pooled: bool = False
    address: str | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    incarnation: str = ""
    created: float = 0.0
    updated: float = 0.0
    error: str | None = None
    public_key: str | None = None  # the CurveZMQ key of its current incarnation
    log: str | None = None  # the tail of its log when it last failed


@dataclass
class HeldMessage:
    """A message kept for a process that could not take it yet."""

    id: int
    src: str
    ep: str
    key: str
    seq: int
    payload: bytes


class Registry:
    """SQLite-backed registry (WAL mode, one connection guarded by a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        old_umask = os.umask(0o077)  # the database and its -wal/-shm files: owner only
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            for table, columns in MIGRATIONS.items():
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column.split()[0] not in have:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        finally:
            os.umask(old_umask)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -------------------------------------------------------------- apps
    def add_app(self, rec: AppRecord) -> None:
        self._q("INSERT INTO apps VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (rec.name, rec.code, rec.image, rec.vcpus, rec.memory_mb, rec.workers, rec.created,
                 rec.client_public, rec.client_secret, rec.snapshot_key, int(rec.resume_failed)))

    def get_app(self, name: str) -> AppRecord | None:
        rows = self._q("SELECT * FROM apps WHERE name=?", (name,))
        return AppRecord(*rows[0]) if rows else None

    def set_app_keys(self, name: str, public: str, secret: str) -> None:
        self._q("UPDATE apps SET client_public=?, client_secret=? WHERE name=?", (public, secret, name))

    def set_snapshot_key(self, name: str, key: str) -> None:
        self._q("UPDATE apps SET snapshot_key=? WHERE name=?", (key, name))

    def apps(self) -> list[AppRecord]:
        return [AppRecord(*r) for r in self._q("SELECT * FROM apps ORDER BY name")]

    def delete_app(self, name: str) -> None:
        with self._lock:
            self._q("DELETE FROM apps WHERE name=?", (name,))
            self._q("DELETE FROM processes WHERE app=?", (name,))
            self._q("DELETE FROM snapshots WHERE app=?", (name,))
            self._q("DELETE FROM messages WHERE app=?", (name,))

    # -------------------------------------------------------------- processes
    @staticmethod
    def _proc(row: tuple[Any, ...]) -> ProcRecord:
        (app, name, status, vcpus, mem, pooled, address, handle, inc, created, updated, error, key, log) = row
        return ProcRecord(app, name, Status(status), vcpus, mem, bool(pooled), address,
                          json.loads(handle or "{}"), inc or "", created, updated, error, key, log)

    def put_process(self, rec: ProcRecord) -> None:
        """Insert or replace a process record."""
        rec.updated = time.time()
        self._q("INSERT OR REPLACE INTO processes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.app, rec.name, rec.status.value, rec.vcpus, rec.memory_mb, int(rec.pooled), rec.address,
                 json.dumps(rec.handle), rec.incarnation, rec.created, rec.updated, rec.error, rec.public_key,
                 rec.log))

    def get_process(self, app: str, name: str) -> ProcRecord | None:
        rows = self._q("SELECT * FROM processes WHERE app=? AND name=?", (app, name))
        return self._proc(rows[0]) if rows else None

    def processes(self, app: str | None = None) -> list[ProcRecord]:
        if app is None:
            rows = self._q("SELECT * FROM processes ORDER BY app, created")
        else:
            rows = self._q("SELECT * FROM processes WHERE app=? ORDER BY created", (app,))
        return [self._proc(r) for r in rows]

    def delete_process(self, app: str, name: str) -> None:
        with self._lock:
            self._q("DELETE FROM processes WHERE app=? AND name=?", (app, name))
            self._q("DELETE FROM snapshots WHERE app=? AND process=?", (app, name))
            self._q("DELETE FROM messages WHERE app=? AND dst=?", (app, name))

    # -------------------------------------------------------------- snapshots
    def add_snapshot(self, app: str, proc: str, snapshot: str, nbytes: int, seconds: float) -> None:
        self._q("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?)",
                (app, proc, snapshot, nbytes, seconds, time.time()))

    def snapshots(self, app: str, proc: str) -> list[dict[str, Any]]:
        rows = self._q("SELECT snapshot, bytes, seconds, created FROM snapshots WHERE app=? AND process=? "
                       "ORDER BY snapshot", (app, proc))
        return [{"snapshot": s, "bytes": b, "seconds": t, "created": c} for s, b, t, c in rows]

    def drop_snapshot(self, app: str, proc: str, snapshot: str) -> None:
        self._q("DELETE FROM snapshots WHERE app=? AND process=? AND snapshot=?", (app, proc, snapshot))

    # -------------------------------------------------------------- held messages
    def hold_message(self, app: str, dst: str, src: str, ep: str, key: str, seq: int, payload: bytes) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO messages (app, dst, src, ep, key, seq, payload) "
                                   "VALUES (?,?,?,?,?,?,?)", (app, dst, src, ep, key, seq, payload))
            return int(cur.lastrowid or 0)

    def held_messages(self, app: str, dst: str, after: int = 0, limit: int = -1) -> list[HeldMessage]:
        """Messages held for ``dst`` in arrival order: those with an id above ``after``, at most ``limit``."""
        rows = self._q("SELECT id, src, ep, key, seq, payload FROM messages WHERE app=? AND dst=? AND id>? "
                       "ORDER BY id LIMIT ?", (app, dst, after, limit))
        return [HeldMessage(*r) for r in rows]

    def held_count(self, app: str, dst: str) -> int:
        return int(self._q("SELECT COUNT(*) FROM messages WHERE app=? AND dst=?", (app, dst))[0][0])

    def held_destinations(self) -> set[tuple[str, str]]:
        """Every ``(app, process)`` that has messages held."""
        return {(a, d) for a, d in self._q("SELECT DISTINCT app, dst FROM messages")}

    def drop_held_for(self, app: str, dst: str) -> int:
        """Forget every message held for ``dst`` (it was stopped: nothing may reach a later namesake)."""
        with self._lock:
            return int(self._db.execute("DELETE FROM messages WHERE app=? AND dst=?", (app, dst)).rowcount)

    def drop_messages(self, ids: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM messages WHERE id=?", [(i,) for i in ids])
