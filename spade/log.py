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
