"""The resumable state of a fit (:func:`spade.train.fit`): written after every epoch, and
resumed only by a fit with the same fingerprint, so that a changed input never reuses a stale
checkpoint (the content hashes are :mod:`spade.digests`')."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from spade.checkpoint import save_atomic
from spade.digests import data_digest, fingerprint_of, model_digest, physics_digest


def fit_fingerprint(opts: dict, seed: int, strategy: str, train_set, val_set, physics, model: nn.Module) -> str:
    """Everything that decides a fit's result: a state written under any other data, operator,
    network, solver, options or seed is never resumed (a rebuilt split of the same size would
    otherwise "resume" at its last epoch and return the old model)."""
    return fingerprint_of({"opts": opts, "seed": seed, "strategy": strategy, "train": data_digest(train_set),
                           "val": data_digest(val_set), "physics": physics_digest(physics),
                           "model": model_digest(model)})


@dataclass
class FitState:
    """Where a fit stands: the epochs done (``start``), the history, and the best point of its
    watched curve (``best_val``, a value to minimise: -PSNR for a strategy with targets, and
    the weights there)."""

    path: Path
    fingerprint: str
    start: int = 0
    history: list[dict] = field(default_factory=list)
    best_val: float = float("inf")
    best_state: dict | None = None

    def resume(self, model: nn.Module, optimiser, scheduler, device: torch.device, log: Callable[[str], None]):
        """Load the state at ``path`` into the fit if its fingerprint is this fit's."""
        if self.path.exists():
            state = torch.load(self.path, map_location=device, weights_only=True)
            if state.get("fingerprint") == self.fingerprint:
                model.load_state_dict(state["model"])
                optimiser.load_state_dict(state["optimiser"])
                scheduler.load_state_dict(state["scheduler"])
                self.best_val, self.best_state, self.start = state["best_val"], state["best_model"], state["epoch"]
                self.history = state["history"]
                log(f"resuming from {self.path} after epoch {self.start}")
            else:
                log(f"ignoring {self.path}: written with other settings")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, row: dict, watched: float, model: nn.Module) -> None:
        """Add an epoch's row; keep the weights if ``watched`` improves on the best so far."""
        row["best"] = watched < self.best_val
        self.history.append(row)
        if row["best"]:
            self.best_val = watched
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def save(self, epoch: int, model: nn.Module, optimiser, scheduler) -> None:
        save_atomic({"fingerprint": self.fingerprint, "epoch": epoch, "model": model.state_dict(),
                     "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                     "best_val": self.best_val, "best_model": self.best_state, "history": self.history}, self.path)
