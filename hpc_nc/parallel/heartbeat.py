"""Heartbeat: a "still working" line from inside a long task.

The farm prints a line when a task finishes; a task of a large dot can run for minutes
without one, which looks like a hang in a batch log. While a task runs, the farm keeps a
:class:`TaskHeartbeat` on the group root: a daemon thread that every ``interval`` seconds
writes one line with the task, its elapsed time and what it is doing now. The kernels say
what they are doing with :func:`status` (cheap: it stores a string), e.g. the block
Davidson solver its iteration and residual, the VFF relaxation its force evaluations and
largest force.

The interval is ``HPC_NC_HEARTBEAT_S`` seconds (default 20; 0 turns the heartbeat off), so
a log gets at most a few lines per minute per group. The thread only writes; a line can come
late when a C call holds the GIL, never early. See docs/design.md, "Processes, progress and
exit status".
"""

from __future__ import annotations

import os
import sys
import threading
import time

DEFAULT_INTERVAL_S = 20.0

_status: dict[str, str | None] = {"text": None}


def interval_s() -> float:
    """Seconds between heartbeat lines: ``HPC_NC_HEARTBEAT_S`` (default 20; <= 0: off)."""
    text = os.environ.get("HPC_NC_HEARTBEAT_S", "")
    try:
        return float(text) if text.strip() else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


def status(text: str) -> None:
    """Record what the current task is doing (shown by the next heartbeat line)."""
    _status["text"] = text


def current_status() -> str | None:
    return _status["text"]


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TaskHeartbeat:
    """Context manager: heartbeat lines for one task while the block runs.

    ``label`` names the task in the line; ``enabled`` is False on all ranks but the group
    root (one line per group); ``stream`` defaults to ``sys.stdout``.
    """

    def __init__(self, label: str, *, enabled: bool = True, stream=None, interval: float | None = None):
        self.label = label
        self.interval = interval_s() if interval is None else float(interval)
        self.enabled = bool(enabled) and self.interval > 0
        self.stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def _run(self, t0: float) -> None:
        while not self._stop.wait(self.interval):
            what = current_status()
            stream = self.stream or sys.stdout
            try:
                stream.write(
                    f"[heartbeat {time.strftime('%H:%M:%S')}] {self.label}: running for "
                    f"{_hms(time.perf_counter() - t0)}" + (f", {what}" if what else "") + "\n"
                )
                stream.flush()
            except (OSError, ValueError):  # closed stream: the heartbeat is only a courtesy
                return
            self.beats += 1

    def __enter__(self):
        status("")
        if self.enabled:
            self._thread = threading.Thread(
                target=self._run, args=(time.perf_counter(),), daemon=True, name="hpc-nc-heartbeat"
            )
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        status("")
        return False
