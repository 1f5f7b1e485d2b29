"""One file per finished cell of a sweep: what makes a sweep restartable and loses nothing.

A cell's file is named by the hash of the sweep's configuration and the cell's parameters, so a
sweep restarted with the same configuration finds the cells it has already done, and a sweep of
another configuration never mistakes them for its own. Each file is small JSON written to a
temporary name in the same folder and renamed into place: a reader (or a restarted sweep) sees a
whole record or none, and a cell computed twice (a task rerun after its worker died) replaces
its own file instead of adding a second record.

A record holds ``cell`` (the parameters), ``config_hash``, ``status`` (``ok``, or ``failed``/
``diverged``/... with a one-line ``message``), ``values`` (the cell's results: numbers, or lists
of numbers), ``seconds`` and ``worker`` (where it ran).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from grokking_workbench.numerics.io import _jsonable, config_hash, config_json

OK = "ok"


def cell_json(cell: dict) -> str:
    """Canonical JSON of a cell's parameters."""
    return json.dumps(_jsonable(cell), sort_keys=True, separators=(",", ":"))


def cell_key(config: Any, cell: dict) -> str:
    """Name of the cell's file (without suffix): 20 hex digits of the SHA-256 of the sweep's
    configuration and the cell's parameters."""
    text = config_json(config) + "\n" + cell_json(cell)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _decode(value):
    """JSON stores non-finite floats as strings ('nan', 'inf'); turn them back into floats."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class CellStore:
    """The folder of one sweep's cell files."""

    def __init__(self, folder: str | os.PathLike, config: Any):
        self.folder = Path(folder)
        self.config = config
        self.hash = config_hash(config)

    def path(self, cell: dict) -> Path:
        return self.folder / f"cell-{cell_key(self.config, cell)}.json"

    def write(self, cell: dict, status: str, values: dict | None = None, message: str = "",
              seconds: float = 0.0, worker: str = "") -> Path:
        """Write one cell's record atomically (replacing an earlier record of the same cell)."""
        record = {"cell": _jsonable(cell), "config_hash": self.hash, "status": status,
                  "message": message, "values": _jsonable(values or {}),
                  "seconds": round(float(seconds), 4), "worker": worker}
        path = self.path(cell)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, allow_nan=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def read(self, cell: dict) -> dict | None:
        """The record of ``cell``, or None if the cell has not finished (or its file belongs to
        another configuration, which cannot happen short of a hash collision)."""
        path = self.path(cell)
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if record.get("config_hash") != self.hash or record.get("cell") != _jsonable(cell):
            return None
        record["values"] = {k: _decode(v) for k, v in record.get("values", {}).items()}
        return record

    def finished(self, cells: Iterable[dict], retry_failed: bool = False) -> dict[int, dict]:
        """Records of the cells already done, by position in ``cells`` (failed cells count as
        done unless ``retry_failed``: a failure is a result, and seeds make it repeat)."""
        out = {}
        for i, cell in enumerate(cells):
            rec = self.read(cell)
            if rec is not None and (rec["status"] == OK or not retry_failed):
                out[i] = rec
        return out

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("cell-*.json"))
