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


class ConfigMismatchError(FileExistsError):
    """The target file holds a dataset of a different configuration."""


class SchemaError(ValueError):
    """A dataset lacks a required attribute (``long_name`` or ``units``)."""


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


def config_hash(config: Any) -> str:
    """First 16 hex digits of the SHA-256 of :func:`config_json`."""
    return hashlib.sha256(config_json(config).encode()).hexdigest()[:16]


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
    new_hash = config_hash(config)
    old_hash = stored_config_hash(path)
    if old_hash is not None and old_hash != new_hash and not overwrite:
        raise ConfigMismatchError(
            f"{path} holds a dataset of another configuration (config_hash {old_hash}, this run "
            f"{new_hash}); choose another output path or pass overwrite")
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
