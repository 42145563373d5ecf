"""Mask generators against their definitions: acceleration, centre lines, per-file seeds."""

import numpy as np
import pytest

from spade.physics import cartesian_mask
from spade.physics.masks import centre_columns, file_rng, make_mask


def columns(mask):
    assert (mask == mask[:1]).all(), "Cartesian: every readout row is the same"
    return mask[0].astype(bool)


@pytest.mark.parametrize("width,accel,cf", [(320, 6, 0.08), (368, 4, 0.08), (96, 8, 0.04), (33, 3, 0.1)])
def test_fixed_mask_is_every_rth_line_plus_the_centre(width, accel, cf):
    cols = columns(make_mask("fixed", (4, width), accel, cf))
    centre = width // 2
    lattice = np.arange(width)[(np.arange(width) - centre) % accel == 0]
    assert cols[lattice].all(), "every accel-th column, anchored on the centre (DC) column"
    n = int(round(cf * width))
    block = np.arange(centre - n // 2, centre - n // 2 + n)
    assert cols[block].all()
    assert cols.sum() == len(set(lattice) | set(block)), "nothing else is acquired"
    np.testing.assert_array_equal(make_mask("fixed", (4, width), accel, cf), cartesian_mask((4, width), accel, cf))


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("width,accel,cf", [(320, 4, 0.08), (368, 8, 0.04), (320, 6, 0.08)])
def test_fastmri_masks_acceleration_and_centre(kind, width, accel, cf):
    lo, hi = centre_columns(width, cf)
    assert hi - lo == int(round(width * cf)) and lo == (width - (hi - lo) + 1) // 2
    fractions = []
    for i in range(200 if kind == "random" else 20):
        cols = columns(make_mask(kind, (2, width), accel, cf, file_rng(0, f"file_{i}.h5")))
        assert cols[lo:hi].all(), "the centre block is always fully sampled"
        fractions.append(cols.mean())
    # fastMRI's definitions aim at width / accel columns in all (in expectation for random)
    assert np.mean(fractions) == pytest.approx(1 / accel, rel=0.05 if kind == "random" else 0.1)


def test_equispaced_lines_are_evenly_spaced_outside_the_centre():
    width, accel, cf = 320, 4, 0.08
    cols = columns(make_mask("equispaced", (1, width), accel, cf, file_rng(3, "a.h5")))
    lo, hi = centre_columns(width, cf)
    outside = np.flatnonzero(cols & ~np.isin(np.arange(width), np.arange(lo, hi)))
    n = hi - lo
    spacing = accel * (n - width) / (n * accel - width)
    gaps = np.diff(outside)
    assert set(gaps[gaps < 2 * spacing]) <= {int(np.floor(spacing)), int(np.ceil(spacing))}


def test_masks_are_deterministic_per_file_and_differ_between_files():
    a1 = make_mask("random", (8, 128), 4, 0.08, file_rng(0, "file_brain_1.h5"))
    a2 = make_mask("random", (8, 128), 4, 0.08, file_rng(0, "file_brain_1.h5"))
    b = make_mask("random", (8, 128), 4, 0.08, file_rng(0, "file_brain_2.h5"))
    c = make_mask("random", (8, 128), 4, 0.08, file_rng(1, "file_brain_1.h5"))
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, b) and not np.array_equal(a1, c)
    e1 = make_mask("equispaced", (8, 128), 4, 0.08, file_rng(0, "x.h5"))
    assert np.array_equal(e1, make_mask("equispaced", (8, 128), 4, 0.08, file_rng(0, "x.h5")))


def test_bad_mask_settings_are_refused():
    with pytest.raises(ValueError, match="unknown mask type"):
        make_mask("radial", (4, 32), 4, 0.08)
    with pytest.raises(ValueError, match="random generator"):
        make_mask("random", (4, 32), 4, 0.08)
    with pytest.raises(ValueError, match="acceleration"):
        make_mask("fixed", (4, 32), 0, 0.08)
