"""Neighbour lists with periodic image shifts (matscipy), for molecules and periodic cells.

An edge ``(sender, receiver, shift)`` has the vector
``positions[receiver] - positions[sender] + shift @ cell`` (``shift`` integer image counts) and a
length below the cutoff. The list is symmetric (every edge appears in both directions, with the
opposite shift), excludes an atom paired with itself in the same image, and includes an atom's
own periodic images when they are within the cutoff. A cutoff larger than the cell is correct:
every image within the cutoff is listed (checked against a brute-force search in the tests).
"""

from __future__ import annotations

import numpy as np

__all__ = ["neighbour_list"]


def neighbour_list(
    positions,
    cutoff: float,
    cell=None,
    pbc=(False, False, False),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs of atoms closer than ``cutoff``, with their periodic image shifts.

    Args:
        positions: ``(n, 3)`` Cartesian positions (A); atoms need not lie inside the cell.
        cutoff: the cutoff radius (A), > 0.
        cell: ``(3, 3)`` lattice vectors as rows; ignored along non-periodic directions (may be
            zeros, or None, for a molecule).
        pbc: periodicity along each lattice vector (a bool or three bools).

    Returns:
        ``(senders, receivers, unit_shifts)``: int32 ``(E,)``, int32 ``(E,)``, int64 ``(E, 3)``,
        sorted by sender, receiver, then shift. ``unit_shifts`` is zero along non-periodic
        directions.

    Raises:
        ValueError: for a non-positive cutoff, non-finite positions, or a cell that is singular
            along its periodic directions (zero or linearly dependent lattice vectors).

    Examples:
        >>> import numpy as np
        >>> senders, receivers, shifts = neighbour_list(np.array([[0.0, 0, 0], [1.0, 0, 0],
        ...                                             [5.0, 0, 0]]), cutoff=1.5)
        >>> senders, receivers
        (array([0, 1], dtype=int32), array([1, 0], dtype=int32))
        >>> s, r, shifts = neighbour_list(np.zeros((1, 3)), 2.5, np.eye(3) * 2.0, pbc=True)
        >>> len(s), shifts.tolist()[:2]
        (6, [[-1, 0, 0], [0, -1, 0]])
    """
    from matscipy.neighbours import neighbour_list as _matscipy_neighbour_list

    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions must be finite, got NaN or inf")
    cutoff = float(cutoff)
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff must be a positive number of A, got {cutoff}")
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must have shape (3, 3), got {cell.shape}")
    n = positions.shape[0]
    empty = (
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros((0, 3), dtype=np.int64),
    )
    if n == 0:
        return empty
    if not pbc.any():
        senders, receivers = _open_pairs(positions, cutoff)
        shifts = np.zeros((senders.shape[0], 3), dtype=np.int64)
    else:
        box = _full_cell(cell, pbc, positions, cutoff)
        senders, receivers, shifts = _matscipy_neighbour_list(
            "ijS", positions=positions, cell=box, pbc=pbc, cutoff=cutoff
        )
        shifts = np.asarray(shifts, dtype=np.int64)
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], receivers, senders))
    return (
        np.asarray(senders, dtype=np.int32)[order],
        np.asarray(receivers, dtype=np.int32)[order],
        shifts[order],
    )


def _open_pairs(positions: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs within the cutoff without periodicity (matscipy on positions alone, or O(n^2))."""
    from matscipy.neighbours import neighbour_list as _matscipy_neighbour_list

    if positions.shape[0] <= 64:
        distance = np.linalg.norm(positions[None, :, :] - positions[:, None, :], axis=-1)
        close = distance < cutoff
        np.fill_diagonal(close, False)
        senders, receivers = np.nonzero(close)
        return senders, receivers
    senders, receivers = _matscipy_neighbour_list("ij", positions=positions, cutoff=cutoff)
    return np.asarray(senders), np.asarray(receivers)


def _full_cell(cell: np.ndarray, pbc: np.ndarray, positions: np.ndarray, cutoff: float):
    """The cell with its non-periodic vectors replaced by long vectors normal to the periodic ones.

    Along a non-periodic direction the lattice vector only sets the box matscipy bins in; the
    replacement is orthogonal to the periodic vectors and longer than the extent of the atoms
    plus twice the cutoff, so no spurious image can come within the cutoff.
    """
    periodic = cell[pbc]
    if np.linalg.matrix_rank(periodic, tol=1e-8 * max(1.0, np.abs(cell).max())) < pbc.sum():
        raise ValueError(
            f"the cell is singular along its periodic directions (pbc={pbc.tolist()}, "
            f"cell={cell.tolist()}): give linearly independent non-zero lattice vectors for every "
            f"periodic direction, or set pbc=False along the others"
        )
    extent = np.ptp(positions, axis=0).max() if positions.shape[0] > 1 else 0.0
    length = float(extent + 2.0 * cutoff + 1.0 + np.abs(cell).sum())
    box = cell.copy()
    open_directions = np.nonzero(~pbc)[0]
    if open_directions.size:
        # an orthonormal basis of the complement of the periodic span
        _, _, vt = np.linalg.svd(np.vstack([periodic, np.zeros((3 - len(periodic), 3))]))
        complement = vt[len(periodic) :]
        for direction, normal in zip(open_directions, complement, strict=True):
            box[direction] = normal * length
    return box
