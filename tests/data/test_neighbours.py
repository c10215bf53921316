"""Neighbour lists against a brute-force search over periodic images."""

import itertools

import numpy as np
import pytest

from equitens.data import neighbour_list


def brute_force(positions, cutoff, cell, pbc):
    """Every (i, j, shift) with |x_j + shift @ cell - x_i| < cutoff, over enough images."""
    pbc = np.broadcast_to(np.asarray(pbc, bool), (3,))
    ranges = []
    for k in range(3):
        if not pbc[k]:
            ranges.append([0])
            continue
        normal = np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])
        height = abs(cell[k] @ normal) / np.linalg.norm(normal)
        frac = positions @ np.linalg.inv(cell)
        reach = int(np.ceil(cutoff / height + np.ptp(frac[:, k]))) + 1
        ranges.append(range(-reach, reach + 1))
    pairs = set()
    for shift in itertools.product(*ranges):
        d = positions[None, :, :] + np.array(shift) @ cell - positions[:, None, :]
        for i, j in zip(*np.nonzero(np.linalg.norm(d, axis=-1) < cutoff), strict=True):
            if i != j or any(shift):
                pairs.add((int(i), int(j), *shift))
    return pairs


def _as_set(senders, receivers, shifts):
    return set(zip(senders.tolist(), receivers.tolist(), *shifts.T.tolist(), strict=True))


TRICLINIC = np.array([[3.1, 0.0, 0.0], [1.4, 2.7, 0.0], [-0.9, 0.6, 2.4]])


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, True, False)])
@pytest.mark.parametrize("cutoff", [1.3, 3.0, 6.5])  # 6.5 A is larger than every cell width
def test_matches_brute_force_in_a_triclinic_cell(pbc, cutoff):
    rng = np.random.default_rng(0)
    # atoms inside and outside the cell
    positions = rng.uniform(-0.5, 1.5, (6, 3)) @ TRICLINIC + rng.normal(size=(6, 3))
    senders, receivers, shifts = neighbour_list(positions, cutoff, TRICLINIC, pbc)
    ours = _as_set(senders, receivers, shifts)
    assert len(ours) == len(senders)  # no duplicates
    assert ours == brute_force(positions, cutoff, TRICLINIC, pbc)
    vectors = positions[receivers] - positions[senders] + shifts @ TRICLINIC
    lengths = np.linalg.norm(vectors, axis=1)
    assert np.all((lengths > 0) & (lengths < cutoff))
    # symmetric: every edge also appears reversed with the opposite shift
    assert ours == {(j, i, -a, -b, -c) for i, j, a, b, c in ours}
    assert np.all(shifts[:, ~np.asarray(pbc)] == 0)


@pytest.mark.parametrize("n", [9, 150])  # small: dense O(n^2) path; large: matscipy's bins
def test_matches_brute_force_for_a_molecule(n):
    rng = np.random.default_rng(n)
    positions = rng.normal(size=(n, 3)) * n ** (1 / 3)
    for cell in (None, np.zeros((3, 3)), np.eye(3) * 50.0):
        senders, receivers, shifts = neighbour_list(positions, 2.5, cell, pbc=False)
        assert _as_set(senders, receivers, shifts) == brute_force(positions, 2.5, np.eye(3), False)
        assert not shifts.any()


def test_small_cell_includes_own_images():
    senders, receivers, shifts = neighbour_list(np.zeros((1, 3)), 2.1, np.eye(3) * 2.0, True)
    assert senders.tolist() == [0] * 6 and receivers.tolist() == [0] * 6
    assert sorted(map(tuple, shifts.tolist())) == sorted(
        [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
    )


def test_atom_without_neighbours_has_no_edges():
    positions = np.array([[0.0, 0, 0], [1.0, 0, 0], [20.0, 0, 0]])
    senders, receivers, _ = neighbour_list(positions, 1.5)
    assert 2 not in senders and 2 not in receivers and len(senders) == 2
    senders, _, _ = neighbour_list(np.zeros((1, 3)), 3.0)
    assert senders.shape == (0,)


def test_bad_input():
    with pytest.raises(ValueError, match="cutoff must be a positive"):
        neighbour_list(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="finite"):
        neighbour_list(np.array([[0.0, np.nan, 0]]), 1.0)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        neighbour_list(np.zeros((2, 2)), 1.0)
    flat = np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]])
    with pytest.raises(ValueError, match="singular along its periodic directions"):
        neighbour_list(np.zeros((2, 3)), 1.0, flat, pbc=True)
    with pytest.raises(ValueError, match="singular"):
        neighbour_list(np.zeros((2, 3)), 1.0, np.zeros((3, 3)), pbc=(True, False, False))


def test_slab_with_zero_vector_along_the_open_direction():
    rng = np.random.default_rng(3)
    cell = np.array([[3.0, 0, 0], [1.0, 2.8, 0], [0, 0, 0]])
    positions = rng.uniform(0, 3, (5, 3))
    pbc = (True, True, False)
    ours = _as_set(*neighbour_list(positions, 3.5, cell, pbc))
    full = cell.copy()
    full[2] = [0, 0, 1.0]  # any third vector: the oracle uses no images along it
    assert ours == brute_force(positions, 3.5, full, pbc)


@pytest.mark.parametrize("seed", range(6))
def test_random_skewed_cells_match_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    cell = np.triu(rng.uniform(-1.5, 1.5, (3, 3)), k=1) + np.diag(rng.uniform(1.5, 4.0, 3))
    cell = cell @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # rotated: a general lattice
    n = int(rng.integers(1, 6))
    positions = rng.uniform(-1, 2, (n, 3)) @ cell
    pbc = tuple(bool(p) for p in rng.integers(0, 2, 3)) if seed % 2 else (True, True, True)
    cutoff = float(rng.uniform(1.0, 5.0))
    ours = _as_set(*neighbour_list(positions, cutoff, cell, pbc))
    assert ours == brute_force(positions, cutoff, cell, pbc)
