"""Errors of a committee on labelled data, and how well its spread ranks them.

:func:`evaluate_committee` runs :class:`equitens.committee.CommitteeCalculator` on every frame of
an extxyz file and returns the errors of the members' mean, each member's own errors, and the
spread's quality as an uncertainty: the rank correlation (Spearman) between the spread and the
error of the mean, per atom for the forces and per frame for the energy, and the median ratio of
error to spread. A correlation near 1 means the spread orders structures as their errors do, which
is what selecting structures to label needs; the ratio says how far the spread is from the error's
scale (committees usually underestimate it, ratios above 1).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate_committee", "format_committee_errors"]


def _errors(energy_error: np.ndarray, atoms: np.ndarray, force_error: np.ndarray | None) -> dict:
    """MAE and RMSE of energies (eV, eV/atom) and force components (eV/A), from the sums of
    :func:`equitens.train.loss.errors_from_sums` (the training loop's definitions)."""
    from equitens.train.loss import errors_from_sums

    sums = {"energy_count": energy_error.size}
    for name, error in (("energy", energy_error), ("energy_per_atom", energy_error / atoms)):
        sums[f"{name}_abs"], sums[f"{name}_sq"] = np.sum(np.abs(error)), np.sum(error**2)
    if force_error is not None:
        sums.update(
            forces_abs=np.sum(np.abs(force_error)),
            forces_sq=np.sum(force_error**2),
            forces_count=force_error.size,
        )
    return errors_from_sums(sums)


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (None when either side is constant)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def evaluate_committee(
    checkpoints: Sequence[str | pathlib.Path],
    data_file: str | pathlib.Path,
    *,
    energy_key: str | None = None,
    forces_key: str | None = None,
    read_forces: bool = True,
) -> dict[str, Any]:
    """Errors of a committee's mean prediction, of each member, and of its spread as an
    uncertainty, on the frames of an extxyz file.

    Args:
        checkpoints: two or more run folders or checkpoint files.
        data_file: extxyz file with reference energies (and forces).
        energy_key: the energy label (default: the first member's ``data.energy_key``).
        forces_key: the forces label (default: the first member's ``data.forces_key``, where
            the file has it; a key given here must be on every frame).
        read_forces: False compares the energies only.

    Returns:
        The errors of the mean (the keys of :func:`equitens.train.evaluate.evaluate_batches`:
        ``energy_mae``, ``energy_per_atom_rmse``, ``forces_mae``, ... in eV, eV/atom, eV/A),
        ``"members"`` (the same errors for each member), ``"n_configs"``,
        ``"energy_std_mean"`` (eV) and ``"energy_spread_spearman"`` (per frame), and with
        forces ``"forces_std_mean"`` (eV/A), ``"forces_spread_spearman"`` (per atom: the
        spread ``forces_std`` against the norm of the mean's force error) and
        ``"forces_error_over_spread_median"``.

    Raises:
        ValueError: for fewer than two checkpoints, an empty file, a missing label key (a
            :class:`equitens.data.MissingLabelError`), or an element some member does not know.

    Examples:
        >>> evaluate_committee(["runs/a"], "test.xyz")
        Traceback (most recent call last):
        ...
        ValueError: a committee needs at least 2 checkpoints, got 1
    """
    checkpoints = list(checkpoints)
    if len(checkpoints) < 2:
        raise ValueError(f"a committee needs at least 2 checkpoints, got {len(checkpoints)}")
    from equitens import data as data_module
    from equitens.committee import CommitteeCalculator
    from equitens.train.checkpoint import load_checkpoint
    from equitens.train.evaluate import unknown_elements

    data_config = load_checkpoint(checkpoints[0])["config"]["data"]
    explicit_forces_key = bool(forces_key)
    forces_key = (forces_key or data_config["forces_key"]) if read_forces else None
    configs = data_module.read_extxyz(
        data_file,
        energy_key=energy_key or data_config["energy_key"],
        forces_key=forces_key,
        stress_key=None,
        allow_energy_only=not explicit_forces_key,
    )
    if not configs:
        raise ValueError(f"{str(data_file)!r} holds no configuration to evaluate")
    committee = CommitteeCalculator.from_checkpoints(checkpoints)
    for path, member in zip(checkpoints, committee.members, strict=True):
        unknown = unknown_elements(configs, member.table.atomic_numbers)
        if unknown:
            names = ", ".join(f"Z={z}" for z in unknown)
            raise ValueError(
                f"{str(data_file)!r} has elements ({names}) that the model of {str(path)!r} was "
                f"not trained on (it knows {', '.join(member.table.symbols)})"
            )
    energies, reference, atoms_count, forces, reference_forces, spreads = [], [], [], [], [], []
    for config in configs:
        atoms = config.to_atoms()
        atoms.calc = committee
        atoms.get_potential_energy()
        energies.append(committee.results["committee_energies"])
        reference.append(config.energy)
        atoms_count.append(len(atoms))
        if config.forces is not None:  # isolated atoms may have none
            forces.append(committee.results["committee_forces"])
            reference_forces.append(np.asarray(config.forces))
            spreads.append(committee.results["forces_std"])
    with_forces = bool(forces)
    energies = np.asarray(energies)  # (frames, members)
    reference, atoms_count = np.asarray(reference), np.asarray(atoms_count)
    member_forces = np.concatenate(forces, axis=1) if with_forces else None  # (M, atoms, 3)
    reference_forces = np.concatenate(reference_forces) if with_forces else None

    def errors_of(energy: np.ndarray, force: np.ndarray | None) -> dict:
        return _errors(
            energy - reference, atoms_count, None if force is None else force - reference_forces
        )

    mean_force = member_forces.mean(axis=0) if with_forces else None
    result = errors_of(energies.mean(axis=1), mean_force)
    result["members"] = [
        errors_of(energies[:, m], None if member_forces is None else member_forces[m])
        for m in range(energies.shape[1])
    ]
    result["n_configs"] = len(configs)
    energy_std = energies.std(axis=1)
    result["energy_std_mean"] = float(energy_std.mean())
    result["energy_spread_spearman"] = _spearman(
        energy_std, np.abs(energies.mean(axis=1) - reference)
    )
    if with_forces:
        spread = np.concatenate(spreads)
        error = np.linalg.norm(mean_force - reference_forces, axis=-1)
        result["forces_std_mean"] = float(spread.mean())
        result["forces_spread_spearman"] = _spearman(spread, error)
        result["forces_error_over_spread_median"] = float(
            np.median(error[spread > 0] / spread[spread > 0])
        )
    return result


def format_committee_errors(errors: dict[str, Any], title: str = "") -> str:
    """The errors of the mean as a table, each member's, and the spread's quality, in meV.

    Examples:
        >>> errors = {"energy_mae": 0.01, "energy_rmse": 0.02, "n_configs": 3,
        ...           "members": [{"energy_mae": 0.012}, {"energy_mae": 0.015}],
        ...           "energy_std_mean": 0.004, "energy_spread_spearman": 0.5}
        >>> print(format_committee_errors(errors))
        quantity             MAE        RMSE
        energy (meV)          10.000     20.000
        members' energy MAE (meV): 12.000, 15.000
        spread: energy std 4.000 meV on average, rank correlation with the error 0.50
    """
    from equitens.train.evaluate import format_errors

    lines = [format_errors(errors, title)]
    members = errors["members"]
    for key, label in (("energy_mae", "energy MAE (meV)"), ("forces_mae", "force MAE (meV/A)")):
        if key in members[0]:
            values = ", ".join(f"{1000 * m[key]:.3f}" for m in members)
            lines.append(f"members' {label}: {values}")

    def correlation(value: float | None) -> str:
        return "undefined (a constant)" if value is None else f"{value:.2f}"

    lines.append(
        f"spread: energy std {1000 * errors['energy_std_mean']:.3f} meV on average, rank "
        f"correlation with the error {correlation(errors['energy_spread_spearman'])}"
    )
    if "forces_std_mean" in errors:
        lines.append(
            f"spread: force std {1000 * errors['forces_std_mean']:.3f} meV/A per atom on "
            f"average, rank correlation with the error "
            f"{correlation(errors['forces_spread_spearman'])}, median error/spread "
            f"{errors['forces_error_over_spread_median']:.2f}"
        )
    return "\n".join(lines)
