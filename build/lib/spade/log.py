"""Send a stage's log records and any uncaught traceback to its log file."""

from __future__ import annotations

import logging
import sys


def log_to_file(path) -> logging.Logger:
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler, logging.StreamHandler(sys.stderr)]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)

    def excepthook(kind, value, tb):
        logging.getLogger("spade").error("stage failed", exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    return logging.getLogger("spade")


class Heartbeat:
    """Progress of a long loop, logged at most every ``every`` seconds (default: the
    ``SPADE_HEARTBEAT_SECONDS`` environment variable, else 60): done of total, the rate and
    the time left, so a user reading the log of a six-hour job sees that it is alive."""

    def __init__(self, what: str, total: int, log, unit: str = "step", every: float | None = None):
        import os
        import time

        self._clock = time.perf_counter
        self.what, self.total, self.log, self.unit = what, max(1, int(total)), log, unit
        self.every = float(os.environ.get("SPADE_HEARTBEAT_SECONDS", 60)) if every is None else float(every)
        self.start = self.last = self._clock()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        now = self._clock()
        if now - self.last < self.every or self.done >= self.total:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate
        self.log(f"{self.what}: {self.done}/{self.total} {self.unit}s ({100 * self.done / self.total:.0f}%), "
                 f"{rate:.3g} {self.unit}s/s, about {_duration(left)} left")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
