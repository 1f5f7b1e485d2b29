"""Labelled datasets with provenance: the storage format of every result (docs/conventions.md, datasets).

One NetCDF file per run, written with the h5netcdf engine to a temporary file in the target
folder and renamed into place, so a reader never sees half a file. A file that already holds a
different configuration (compared by the hash of the canonical JSON of the configuration) is
never overwritten unless the caller asks; a file of the same configuration is replaced, which is
how long runs save their progress and resume.

Global attributes written on every dataset:

``title``, ``Conventions``, ``source`` (package, version and git commit), ``history`` (the command
line), ``created`` (UTC, ISO 8601), ``config`` (JSON), ``config_hash``, ``versions`` (JSON of the
package versions), ``status`` (``complete``, ``partial: ...``, ``diverged: ...``, ...).
Every data variable and coordinate must carry ``long_name`` and ``units`` (``"1"`` when
dimensionless); :func:`write_dataset` refuses a dataset that lacks them.

Execution settings (:data:`EXECUTION_FIELDS`: iteration budget, threads, number of records, chunk
size, device) do not change what is computed, so they are left out of ``config_hash`` and of the
comparison of configurations: a run may resume with other settings. :func:`check_output` checks a
destination before any computation (writable, not a folder, not a file that is not a dataset, not
a dataset of another configuration). The exit codes of the ``grokking`` command are defined here.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

CONVENTIONS = "CF-1.8"
PACKAGE = "grokking-workbench"
_VERSIONED = ("numpy", "scipy", "sympy", "xarray", "h5netcdf", "h5py", "matplotlib", "torch")
# variables with more elements than this are compressed (zlib + shuffle)
_COMPRESS_ABOVE = 1024


#: exit codes of the ``grokking`` command
EXIT_OK = 0
EXIT_STALE = 1          # derive --check: generated files are stale; run all: an experiment failed
EXIT_BAD_INPUT = 2      # invalid parameter or output path; nothing was computed or written
EXIT_DIVERGED = 3       # the run diverged or did not converge; what it computed is saved
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM; what it computed is saved (128 + SIGINT)

#: configuration fields that say how a run is executed, not what it computes
EXECUTION_FIELDS = frozenset({"max_iter", "threads", "num_threads", "records", "chunk", "device"})


class OutputPathError(ValueError):
    """An output path that cannot receive the dataset; ``param`` names the option."""

    def __init__(self, param: str, path, reason: str):
        super().__init__(f"{param}: {path}: {reason}")
        self.param, self.path, self.detail = param, Path(path), f"{path}: {reason}"


class ConfigMismatchError(FileExistsError):
    """The target file holds a dataset of a different configuration."""

    def __init__(self, message: str, param: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.param, self.detail = param, detail


class SchemaError(ValueError):
    """A dataset lacks a required attribute (``long_name`` or ``units``), or a dataset or its
    declared schema (:mod:`numerics.schema`) is not well formed."""


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "inf", "nan": JSON has no such numbers
    if isinstance(value, Path):
        return str(value)
    return value


def config_json(config: Any) -> str:
    """Canonical JSON of a configuration (a dataclass or a mapping): sorted keys, no spaces."""
    return json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))


def _what(value: Any) -> Any:
    """A JSON-able configuration without its execution settings (at any depth)."""
    if isinstance(value, dict):
        return {k: _what(v) for k, v in value.items() if k not in EXECUTION_FIELDS}
    if isinstance(value, list):
        return [_what(v) for v in value]
    return value


def config_hash(config: Any) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config`` without its
    execution settings (:data:`EXECUTION_FIELDS`)."""
    text = json.dumps(_what(_jsonable(config)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_differences(stored: Any, config: Any) -> list[str]:
    """Names (dotted for nested fields) of the fields in which two configurations differ,
    execution settings left out; empty if they describe the same computation."""
    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            out = []
            for key in sorted(set(a) | set(b)):
                out += walk(a.get(key), b.get(key), f"{prefix}{key}.")
            return out
        return [] if a == b else [prefix.rstrip(".") or "config"]
    return walk(_what(json.loads(config_json(stored))), _what(json.loads(config_json(config))), "")


def _first_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if os.path.lexists(parent):
            return parent
    return Path(".")


def check_output(path: str | os.PathLike, config: Any, *, overwrite: bool = False,
                 param: str = "out") -> dict | None:
    """Check, before any computation, that a dataset of ``config`` can be written to ``path``.

    Missing parent folders are fine (:func:`write_dataset` creates them). Raises
    :class:`OutputPathError` (``param`` names the option) if the path is a folder, lies below a
    file, is in a folder that is not writable, or is a file that is not a readable dataset of this
    workbench (unless ``overwrite``); :class:`ConfigMismatchError` naming the differing fields if
    it holds a dataset of another configuration (unless ``overwrite``). Returns the stored
    dataset's attributes (None when there is no file), e.g. to resume from it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(param, path, "is a folder; give a file name ending in .nc")
    folder = _first_existing(path.parent)
    if not folder.is_dir():
        raise OutputPathError(param, path, f"{folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(param, path, f"folder {folder} is not writable "
                              f"({exc.strerror or exc})") from None
    if not path.exists():
        return None
    try:
        attrs = stored_attrs(path)
    except Exception as exc:   # noqa: BLE001 - any reason the file is no readable dataset
        if overwrite:
            return None
        raise OutputPathError(param, path, f"exists and is not a dataset ({type(exc).__name__}); "
                              "choose another path or pass --overwrite") from None
    if "config" not in attrs:
        if overwrite:
            return None
        raise OutputPathError(param, path, "holds a dataset without a configuration (not written "
                              "by this workbench); choose another path or pass --overwrite")
    differ = config_differences(json.loads(attrs["config"]), config)
    if differ and not overwrite:
        detail = (f"{path} holds a dataset of another configuration (differs in {', '.join(differ)}); "
                  "choose another path or pass --overwrite")
        raise ConfigMismatchError(f"{param}: {detail}", param, detail)
    return None if differ else attrs


def stored_attrs(path: str | os.PathLike) -> dict:
    """The global attributes of the dataset file ``path`` (any error if it is not one)."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return dict(ds.attrs)


def resumed_history(attrs: dict | None, command: str) -> str:
    """The ``history`` of a run that continues the stored one: its commands, then ``command``."""
    old = (attrs or {}).get("history")
    return command if not old else f"{old}\n{command}"


def git_commit() -> str:
    """The commit of the checkout this package runs from (``-dirty`` if modified), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages results depend on (without importing them)."""
    out = {"python": sys.version.split()[0]}
    for name in (PACKAGE,) + _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(config: Any, *, title: str, command: str | None = None,
               status: str = "complete") -> dict[str, str]:
    """The global attributes of docs/conventions.md, datasets for a dataset of ``config``."""
    versions = package_versions()
    return {
        "title": title,
        "Conventions": CONVENTIONS,
        "source": f"{PACKAGE} {versions.get(PACKAGE, '?')} (git {git_commit()})",
        "history": command if command is not None else " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config_json(config),
        "config_hash": config_hash(config),
        "versions": json.dumps(versions, sort_keys=True),
        "status": status,
    }


def check_schema(ds) -> None:
    """Raise :class:`SchemaError` unless every variable and coordinate has long_name and units."""
    missing = [f"{name}: {attr}" for name, var in {**ds.coords, **ds.data_vars}.items()
               for attr in ("long_name", "units") if attr not in var.attrs]
    if missing:
        raise SchemaError("dataset variables lack required attributes: " + ", ".join(missing))


def stored_config_hash(path: str | os.PathLike) -> str | None:
    """The ``config_hash`` attribute of an existing file, or None if there is no file."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        return None
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.attrs.get("config_hash")


def write_dataset(ds, path: str | os.PathLike, config: Any, *, title: str,
                  command: str | None = None, status: str = "complete",
                  overwrite: bool = False) -> Path:
    """Write ``ds`` with provenance to ``path`` atomically; return the path.

    Raises :class:`ConfigMismatchError` if ``path`` holds a dataset of another configuration
    and ``overwrite`` is false, :class:`SchemaError` if a variable lacks long_name or units.
    """
    check_schema(ds)
    path = Path(path)
    if path.exists() and not overwrite:
        old = stored_attrs(path).get("config")
        differ = config_differences(json.loads(old), config) if old is not None else ["config"]
        if differ:
            raise ConfigMismatchError(
                f"{path} holds a dataset of another configuration (differs in {', '.join(differ)}); "
                "choose another output path or pass overwrite")
    out = ds.copy()
    out.attrs = {**ds.attrs, **provenance(config, title=title, command=command, status=status)}
    encoding = {name: {"zlib": True, "complevel": 4, "shuffle": True}
                for name, var in out.data_vars.items()
                if var.size > _COMPRESS_ABOVE and var.dtype.kind in "fiuc"}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        out.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_dataset(path: str | os.PathLike):
    """Load a dataset written by :func:`write_dataset` fully into memory (the file is closed)."""
    import xarray as xr

    return xr.load_dataset(path, engine="h5netcdf")


def read_config(ds) -> dict:
    """The configuration stored in a dataset's ``config`` attribute, as a dict."""
    return json.loads(ds.attrs["config"])
