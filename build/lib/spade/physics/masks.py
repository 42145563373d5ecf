"""Cartesian undersampling masks along the phase-encode (last) axis.

* ``fixed``: the paper's mask, every ``acceleration``-th column plus a fully sampled
  centre block; deterministic, the same for every file.
* ``random`` and ``equispaced``: fastMRI's ``RandomMaskFunc`` and ``EquispacedMaskFunc``
  (reimplemented from their definitions): ``round(W * center_fraction)`` centre columns
  starting at ``(W - n + 1) // 2``; the rest drawn at random with probability
  ``(W / R - n) / (W - n)`` (``random``) or on a lattice of spacing
  ``R (n - W) / (n R - W)`` from a random offset (``equispaced``), so that about ``W / R``
  columns are acquired in all.

Random masks draw from :func:`file_rng`, a generator seeded by the config seed and the
file name, so one volume always gets the same mask (reproducible validation, as fastMRI
seeds its validation masks by file name) whatever the order files are read in.
"""

from __future__ import annotations

import hashlib

import numpy as np

MASK_TYPES = ("fixed", "random", "equispaced")


def file_rng(seed: int, name: str) -> np.random.Generator:
    """A generator determined by ``seed`` and a file name (not by Python's salted hash)."""
    digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _check(acceleration: float, center_fraction: float) -> None:
    if acceleration < 1:
        raise ValueError(f"acceleration must be >= 1, got {acceleration}")
    if not 0 <= center_fraction <= 1:
        raise ValueError(f"center_fraction must lie in [0, 1], got {center_fraction}")


def centre_columns(width: int, center_fraction: float) -> tuple[int, int]:
    """``[start, stop)`` of fastMRI's fully sampled centre block."""
    n = int(round(width * center_fraction))
    start = (width - n + 1) // 2
    return start, start + n


def fixed_columns(width: int, acceleration: int, center_fraction: float) -> np.ndarray:
    """The paper's columns: a lattice of spacing ``acceleration`` anchored on the centre
    column ``W // 2`` (so DC is always acquired) plus ``round(center_fraction * W)``
    centre columns."""
    _check(acceleration, center_fraction)
    columns = np.zeros(width, dtype=bool)
    centre = width // 2
    columns[centre % int(acceleration) :: int(acceleration)] = True
    n_centre = int(round(center_fraction * width))
    start = centre - n_centre // 2
    columns[start : start + n_centre] = True
    return columns


def random_columns(width: int, acceleration: float, center_fraction: float, rng: np.random.Generator) -> np.ndarray:
    _check(acceleration, center_fraction)
    lo, hi = centre_columns(width, center_fraction)
    n = hi - lo
    if n >= width:
        return np.ones(width, dtype=bool)
    prob = (width / acceleration - n) / (width - n)
    if prob < 0:
        raise ValueError(f"center_fraction {center_fraction} already acquires more than 1/{acceleration} of k-space")
    columns = rng.uniform(size=width) < prob
    columns[lo:hi] = True
    return columns


def equispaced_columns(width: int, acceleration: float, center_fraction: float,
                       rng: np.random.Generator) -> np.ndarray:
    _check(acceleration, center_fraction)
    lo, hi = centre_columns(width, center_fraction)
    n = hi - lo
    columns = np.zeros(width, dtype=bool)
    columns[lo:hi] = True
    if n * acceleration >= width:
        raise ValueError(f"center_fraction {center_fraction} already acquires more than 1/{acceleration} of k-space")
    # the lattice spacing that makes centre plus lattice about width / acceleration columns
    spacing = acceleration * (n - width) / (n * acceleration - width)
    offset = int(rng.integers(0, max(1, round(spacing))))
    picks = np.around(np.arange(offset, width - 1, spacing)).astype(int)
    columns[picks] = True
    return columns


def make_mask(kind: str, shape: tuple[int, int], acceleration: float, center_fraction: float,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """A float32 ``[H, W]`` mask of zeros and ones, constant along the readout (rows)."""
    height, width = shape
    if kind == "fixed":
        columns = fixed_columns(width, int(acceleration), center_fraction)
    elif kind in ("random", "equispaced"):
        if rng is None:
            raise ValueError(f"a {kind} mask needs a random generator (see file_rng)")
        fn = random_columns if kind == "random" else equispaced_columns
        columns = fn(width, acceleration, center_fraction, rng)
    else:
        raise ValueError(f"unknown mask type {kind!r}; expected one of {MASK_TYPES}")
    return np.broadcast_to(columns[None, :], (height, width)).astype(np.float32)
