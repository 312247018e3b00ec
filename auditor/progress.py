"""Progress of an audit as plain timestamped lines, for output that is not a terminal (CI logs).

A terminal gets Rich's live bar (auditor/cli.py). A log gets one line when each check starts and,
while a check works, one line every ``interval_s`` seconds naming the current step, its parts
done out of the total and an estimate of the time remaining, so a long step never looks hung; a
line when the reports are written (the PDF of a large audit takes a while); and one line at the end:

    2026-12-01T14:40:05Z check 3/12 explanation_faithfulness: started
    2026-12-01T14:40:15Z check 3/12 explanation_faithfulness (10s): shap explanations 20/40, about 10s remaining
    2026-12-01T14:41:20Z writing result.json, report.html and report.pdf: started
    2026-12-01T14:41:30Z audit: finished after 1m25s
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable, TextIO

DEFAULT_INTERVAL_S = 10.0  # seconds between lines while a check works
MIN_INTERVAL_S = 0.01


def duration(seconds: float) -> str:
    """'45s', '3m05s', '1h02m'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class PlainProgress:
    """Thread-safe receiver of the engine's ``on_progress`` and ``on_step`` callbacks that writes
    lines to ``stream``: immediately when a check starts, then at a steady interval (a background
    thread, so the interval holds even while one model call takes minutes). Use as a context
    manager; leaving it stops the thread."""

    def __init__(self, stream: TextIO, interval_s: float = DEFAULT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.interval_s = max(float(interval_s), MIN_INTERVAL_S)
        self.clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._check = "loading inputs"
        self._step: tuple[str, int, int] | None = None
        self._step_started = self._check_started = self._started = clock()

    # --- the engine's callbacks ---------------------------------------------------------------

    def on_progress(self, check_id: str, i: int, n: int) -> None:
        with self._lock:
            self._check = f"check {i + 1}/{n} {check_id}"
            self._step = None
            self._check_started = self.clock()
            self._write("started")

    def on_stage(self, label: str) -> None:
        """A stage outside the checks (writing the reports): its own line, its own clock."""
        with self._lock:
            self._check, self._step, self._check_started = label, None, self.clock()
            self._write("started")

    def on_step(self, label: str, done: int, total: int) -> None:
        with self._lock:
            if self._step is None or self._step[0] != label or self._step[2] != total or done < self._step[1]:
                self._step_started = self.clock()  # a new step: its own estimate
            self._step = (label, done, total)

    # --- lines --------------------------------------------------------------------------------

    def status(self) -> str:
        """The current step, done/total and time remaining (from the step's rate so far)."""
        if self._step is None:
            return "working"
        label, done, total = self._step
        text = f"{label} {done}/{total}"
        elapsed = self.clock() - self._step_started
        if 0 < done < total and elapsed > 0:
            text += f", about {duration(elapsed / done * (total - done))} remaining"
        elif done < total:
            text += ", time remaining not yet known"
        return text

    def _write(self, text: str, what: str | None = None) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.stream.write(f"{stamp} {self._check if what is None else what}: {text}\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: progress is best-effort
            pass

    def _tick_line(self) -> None:
        with self._lock:
            self._write(self.status(), f"{self._check} ({duration(self.clock() - self._check_started)})")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._tick_line()

    def __enter__(self) -> "PlainProgress":
        self._thread = threading.Thread(target=self._tick, name="auditor-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """No more lines from the background thread (before a last message of the caller's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __exit__(self, *exc) -> None:
        self.stop()
        if exc[0] is None:
            with self._lock:
                self._write(f"finished after {duration(self.clock() - self._started)}", "audit")
