"""SIGINT and SIGTERM as a request to stop at the next safe point, so a long run saves its work.

The ``grokking`` command installs :func:`handled` around every subcommand. Loops that can stop
cleanly (the simulator's Euler steps, the DMFT sweep and iteration, the ODE's steps) run inside
:func:`polling` and call :func:`requested` at points where their state is consistent; there a
signal only sets a flag, and the loop returns what it computed with status ``interrupted at ...``.
Elsewhere (and at a second signal) the signal raises :class:`KeyboardInterrupt` at once, which the
experiment runner turns into a saved partial result. Outside the command nothing is installed and
:func:`requested` is always false.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"signal": None, "polling": 0, "installed": False}


def _handler(signum, frame) -> None:
    first = _state["signal"] is None
    if first:
        _state["signal"] = signum
    if not first or _state["polling"] == 0:
        raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def handled():
    """Install the handler for SIGINT and SIGTERM (main thread only); restore the old ones."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in _SIGNALS}
    _state.update(signal=None, installed=True)
    for s in _SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _state.update(signal=None, installed=False)


@contextmanager
def polling():
    """Inside this block a first signal only sets the flag that :func:`requested` reads."""
    _state["polling"] += 1
    try:
        yield
    finally:
        _state["polling"] -= 1


def follow(event) -> None:
    """In a worker process: stop also when ``event`` (a ``multiprocessing.Event`` that the parent
    sets when it is asked to stop) is set, so a signal to the parent reaches the workers' loops."""
    _state["event"] = event


def requested() -> bool:
    """Whether a signal (to this process, or to the parent it :func:`follow` s) asked the polling
    loop to stop."""
    if _state["polling"] <= 0:
        return False
    event = _state.get("event")
    return _state["signal"] is not None or (event is not None and event.is_set())


def received() -> str | None:
    """The name of the signal received (``SIGINT``, ``SIGTERM``), or None."""
    s = _state["signal"]
    return None if s is None else signal.Signals(s).name
