"""Energy functions for JAX MD: molecular dynamics that stays on the device, under ``jax.jit``.

The ASE calculator (:mod:`equitens.calculator`) returns to Python at every step. `JAX MD
<https://github.com/jax-md/jax-md>`_ keeps the whole simulation on the device (``lax.fori_loop``
over steps, neighbour lists rebuilt on the device), which pays off most for small systems on a
GPU. It takes an energy function ``energy(R, neighbor, **kwargs) -> scalar`` of the positions
and a neighbour list, and its own displacement function; :func:`neighbor_energy_fn` builds one
from an equitens potential, and :func:`energy_fn_from_checkpoint` from a training run. Forces are
``-grad`` of it (``jax_md.quantity.force``), second derivatives work as in training.

How a neighbour list becomes the model's graph (:mod:`equitens.models.graph` layout): the
list's padding slots (index ``N``) become edges of an extra padding node to itself, and each
edge's vector is the displacement function's ``displacement(R[receiver], R[sender])``: free
space, periodic boxes (``space.periodic``) and fractional coordinates
(``space.periodic_general``) alike. All three formats work: ``Dense`` (``(N, max_neighbours)``),
``Sparse`` (``(2, capacity)``: receivers, senders) and ``OrderedSparse`` (each pair once; the
reversed edges are added). Neighbours beyond the model's cutoff (JAX MD's list includes a skin)
carry no message: the model's radial envelope is zero there. Build the list with
``r_cutoff`` at least the model's cutoff.

Nothing here imports ``jax_md``: the functions read ``neighbor.idx`` and ``neighbor.format``.

Examples:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from equitens.models import build_model
    >>> model = build_model({"model": {"name": "mace", "cutoff": 3.0, "num_channels": 4,
    ...     "lmax": 1, "correlation": 1, "num_interactions": 1, "radial_mlp": [8]}}, (1,), [0.0])
    >>> R = jnp.array([[0.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.1, 0.2]])
    >>> class Neighbors:  # what jax_md.partition.neighbor_list(..., format=Sparse) allocates
    ...     idx = jnp.array([[0, 0, 1, 1, 2, 2, 3], [1, 2, 0, 2, 0, 1, 3]])  # 3: padding
    ...     format = type("Format", (), {"name": "Sparse"})
    >>> params = init_params(model, jax.random.PRNGKey(0), R, Neighbors, jnp.zeros(3, int),
    ...     lambda a, b: a - b)
    >>> energy = neighbor_energy_fn(model, params, jnp.zeros(3, int), lambda a, b: a - b)
    >>> forces = -jax.grad(energy)(R, Neighbors)
    >>> forces.shape, bool(jnp.abs(forces.sum(0)).max() < 1e-5)  # Newton's third law
    ((3, 3), True)
"""

from __future__ import annotations

import functools
import pathlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

__all__ = [
    "energy_fn_from_checkpoint",
    "init_params",
    "neighbor_edges",
    "neighbor_energy_fn",
    "run_md",
    "run_steps",
]

FORMATS = ("Dense", "Sparse", "OrderedSparse")
"""The neighbour-list formats of JAX MD (``jax_md.partition.NeighborListFormat``)."""


def neighbor_edges(neighbor: Any, num_atoms: int) -> tuple[jax.Array, jax.Array]:
    """``(senders, receivers)`` of every directed edge of a JAX MD neighbour list.

    Padding slots keep the index ``num_atoms`` in both arrays.

    Args:
        neighbor: a ``jax_md.partition.NeighborList`` (its ``idx`` and ``format``).
        num_atoms: ``N``, the number of atoms (the list's padding index).

    Returns:
        Two ``(E,)`` integer arrays.

    Raises:
        ValueError: for a format that is not one of :data:`FORMATS`.

    Examples:
        >>> import numpy as np
        >>> class Dense:
        ...     idx = np.array([[1, 2], [0, 3], [0, 3]])  # atoms 1, 2: one neighbour, 3: padding
        ...     format = type("Format", (), {"name": "Dense"})
        >>> [a.tolist() for a in neighbor_edges(Dense, 3)]
        [[1, 2, 0, 3, 0, 3], [0, 0, 1, 1, 2, 2]]
    """
    name = getattr(neighbor.format, "name", str(neighbor.format))
    idx = jnp.asarray(neighbor.idx)
    if name == "Dense":
        receivers = jnp.repeat(jnp.arange(idx.shape[0]), idx.shape[1])
        senders = idx.reshape(-1)
        return senders, receivers
    if name in ("Sparse", "OrderedSparse"):
        receivers, senders = idx[0], idx[1]
        if name == "OrderedSparse":  # each pair once: add the reversed edges
            senders, receivers = (
                jnp.concatenate([senders, receivers]),
                jnp.concatenate([receivers, senders]),
            )
        return senders, receivers
    raise ValueError(
        f"unknown neighbour-list format {name!r}: build the list with jax_md.partition."
        f"neighbor_list(..., format=partition.Sparse) (or one of {FORMATS})"
    )


def _graph(R, neighbor, species, displacement_fn, kwargs) -> jraph.GraphsTuple:
    """The model's one-graph batch (plus a padding graph) for positions and a neighbour list."""
    n = R.shape[0]
    senders, receivers = neighbor_edges(neighbor, n)
    real = (senders < n) & (receivers < n)
    senders, receivers = jnp.where(real, senders, n), jnp.where(real, receivers, n)
    positions = jnp.concatenate([R, jnp.zeros((1, 3), R.dtype)])
    displacement = jax.vmap(functools.partial(displacement_fn, **kwargs))
    vectors = displacement(positions[receivers], positions[senders])
    raw = positions[receivers] - positions[senders]
    # the model's vector is raw + shift @ cell: with a unit cell, the shift makes it the
    # displacement function's (periodic images, fractional coordinates)
    shifts = jnp.where(real[:, None], vectors.astype(R.dtype) - raw, 0.0)
    species = jnp.asarray(species)
    return jraph.GraphsTuple(
        nodes={
            "positions": positions,
            "species": jnp.concatenate([species, jnp.zeros((1,), species.dtype)]),
        },
        edges={"unit_shifts": shifts},
        globals={
            "cell": jnp.broadcast_to(jnp.eye(3, dtype=R.dtype), (2, 3, 3)),
            "weight": jnp.array([1.0, 0.0], R.dtype),
        },
        senders=senders,
        receivers=receivers,
        n_node=jnp.array([n, 1]),
        n_edge=jnp.array([senders.shape[0], 0]),
    )


def _check_positions(R, species) -> None:
    if R.ndim != 2 or R.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {tuple(R.shape)}")
    if np.shape(species) != (R.shape[0],):
        raise ValueError(
            f"species must have one entry per atom, shape ({R.shape[0]},), got "
            f"{tuple(np.shape(species))}"
        )


def neighbor_energy_fn(
    model: Any, params: Any, species: Any, displacement_fn: Callable
) -> Callable:
    """A JAX MD energy function ``energy(R, neighbor, **kwargs) -> scalar`` of a potential.

    Args:
        model: the potential (:func:`equitens.models.build_model`).
        params: its parameters.
        species: ``(N,)`` indices of the atoms' species in the model's species table (not
            atomic numbers; :func:`energy_fn_from_checkpoint` maps those).
        displacement_fn: JAX MD's ``displacement(Ra, Rb) -> Ra - Rb`` (from ``jax_md.space``);
            the keyword arguments of ``energy`` go to it (e.g. ``box=``).

    Returns:
        The energy function (eV), jit-able and differentiable to any order.
    """

    def energy(R, neighbor, **kwargs):
        R = jnp.asarray(R)
        _check_positions(R, species)
        graph = _graph(R, neighbor, species, displacement_fn, kwargs)
        return model.apply(params, graph)[0]

    return energy


def init_params(
    model: Any, key: jax.Array, R: Any, neighbor: Any, species: Any, displacement_fn: Callable
) -> Any:
    """Fresh parameters of ``model`` on the graph of ``R`` and ``neighbor`` (tests, examples)."""
    R = jnp.asarray(R)
    _check_positions(R, species)
    return model.init(key, _graph(R, neighbor, species, displacement_fn, {}))


def energy_fn_from_checkpoint(
    path: str | pathlib.Path,
    atomic_numbers: Sequence[int],
    displacement_fn: Callable,
    which: str = "best",
) -> tuple[Callable, float]:
    """The JAX MD energy function of a training run's checkpoint, for given atoms.

    A checkpoint of a float64 run needs jax's x64 mode switched on beforehand
    (:mod:`equitens.precision`).

    Args:
        path: a checkpoint file, or the folder of a training run.
        atomic_numbers: ``(N,)`` atomic numbers of the atoms, in the order of ``R``.
        displacement_fn: JAX MD's displacement function.
        which: ``"best"`` or ``"latest"`` when ``path`` is a folder.

    Returns:
        ``(energy_fn, cutoff)``: the energy function and the model's cutoff (Angstrom), the
        least ``r_cutoff`` for the neighbour list.

    Raises:
        ValueError: for an element the model was not trained on (the message names it), or a
            checkpoint that is not a training run's.
    """
    from equitens.calculator import EquitensCalculator

    calculator = EquitensCalculator.from_checkpoint(path, which)
    species = jnp.asarray(calculator.table.index(np.asarray(atomic_numbers).reshape(-1)))
    energy = neighbor_energy_fn(calculator.model, calculator.params, species, displacement_fn)
    return energy, calculator.cutoff


def run_steps(apply: Callable, steps: int, update_kwargs: Callable | None = None) -> Callable:
    """``steps`` steps of a JAX MD integrator in one jitted ``lax.fori_loop``, the neighbour list
    updated after each: ``run(state, neighbors) -> (state, neighbors)``.

    Check ``neighbors.did_buffer_overflow`` afterwards: when it is true, the list ran out of
    capacity; allocate a larger one (``neighbor_fn.allocate(state.position)``) and run again.

    Args:
        apply: the integrator's step, ``apply(state, neighbor=...) -> state`` (e.g. the second
            function of ``jax_md.simulate.nve``).
        steps: how many steps.
        update_kwargs: ``state -> dict`` of keyword arguments of the neighbour-list update
            (e.g. ``lambda state: {"box": jax_md.simulate.npt_box(state)}`` at constant
            pressure, where the box moves).

    Returns:
        The jitted function.

    Examples:
        >>> from typing import NamedTuple
        >>> import jax.numpy as jnp
        >>> class State(NamedTuple):  # stand-ins for JAX MD's state and neighbour list
        ...     position: jax.Array
        >>> class Neighbors(NamedTuple):
        ...     idx: jax.Array
        ...     def update(self, position):
        ...         return self
        >>> run = run_steps(lambda state, neighbor: State(state.position + 0.5), 10)
        >>> float(run(State(jnp.zeros(())), Neighbors(jnp.zeros(2)))[0].position)
        5.0
    """

    def step(_, carry):
        state, neighbors = carry
        state = apply(state, neighbor=neighbors)
        kwargs = update_kwargs(state) if update_kwargs is not None else {}
        return state, neighbors.update(state.position, **kwargs)

    @jax.jit
    def run(state, neighbors):
        return jax.lax.fori_loop(0, steps, step, (state, neighbors))

    return run


def _space(atoms, jax_md):
    """JAX MD's displacement and shift functions of ``atoms``, the positions it integrates
    (fractional for a periodic cell) and the box (``None`` in free space)."""
    space = jax_md.space
    if not np.any(atoms.pbc):
        displacement, shift = space.free()
        return displacement, shift, jnp.asarray(atoms.positions), None
    if not np.all(atoms.pbc) or atoms.cell.rank != 3:
        raise ValueError(
            f"JAX MD needs a structure periodic in all three directions or in none, got pbc="
            f"{atoms.pbc.tolist()}; use the ASE engine (--engine ase) for mixed boundaries"
        )
    cell = np.asarray(atoms.cell)
    box = jnp.asarray(cell.T)  # JAX MD: lattice vectors are columns
    displacement, shift = space.periodic_general(box, fractional_coordinates=True)
    fractional = jnp.asarray(atoms.get_scaled_positions(wrap=True))
    return displacement, shift, fractional, box


def _check_cell_width(cell: np.ndarray, cutoff: float, when: str) -> None:
    """JAX MD's periodic space takes each pair's nearest image only: every width of the cell
    (the distances between opposite faces) must exceed twice the cutoff."""
    cell = np.asarray(cell, np.float64)
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[i - 2], cell[i - 1])) for i in range(3)]
    if min(widths) <= 2 * cutoff:
        raise ValueError(
            f"{when} the cell's widths are {', '.join(f'{w:.2f}' for w in widths)} A, but JAX "
            f"MD takes each pair's nearest periodic image only, which needs widths above twice "
            f"the cutoff ({2 * cutoff:.2f} A): repeat the cell (atoms.repeat) or use the ASE "
            "engine"
        )


def _without_float64_requests(function: Callable) -> Callable:
    """``function`` with jax's warnings about float64 requests in float32 mode silenced: JAX MD's
    integrators ask for float64 sums, which jax truncates to float32 with a warning every call
    (harmless, and not the user's doing)."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Explicitly requested dtype float64", category=UserWarning
            )
            return function(*args, **kwargs)

    return wrapped


@_without_float64_requests
def run_md(
    checkpoint: str | pathlib.Path,
    atoms: Any,
    *,
    steps: int,
    ensemble: str = "langevin",
    timestep_fs: float = 0.5,
    temperature_K: float = 300.0,
    friction_per_fs: float = 0.01,
    pressure_GPa: float = 0.0,
    thermostat_fs: float | None = None,
    barostat_fs: float | None = None,
    interval: int = 10,
    seed: int = 0,
    write_frame: Callable | None = None,
) -> Any:
    """Molecular dynamics of ``atoms`` with a training run's potential, on the device (JAX MD).

    What ``equitens md --engine jax-md`` runs: velocity Verlet (``"nve"``), Langevin
    (``"langevin"``, JAX MD's ``nvt_langevin``) or constant pressure (``"npt"``, JAX MD's
    ``npt_nose_hoover``: Nose-Hoover chains on the particles and on the volume, the cell
    scaled isotropically; a periodic cell only) from Maxwell-Boltzmann momenta at
    ``temperature_K`` (:func:`equitens.momenta.thermal_momenta`, as the ASE engine draws them:
    the same seed, the same start);
    ``interval`` steps at a time in one jitted loop (:func:`run_steps`), after which the
    neighbour list is checked (reallocated and the block run again when it overflowed) and
    ``write_frame(atoms)`` gets the current positions, momenta, energy and forces.
    Free space, or a cell periodic in all three directions (fractional coordinates). The
    neighbour list is rebuilt from all pairs (no cell list): fine up to a few thousand atoms;
    for larger systems build a cell list yourself and use :func:`neighbor_energy_fn`.

    Args:
        checkpoint: a checkpoint file, or the folder of a training run.
        atoms: the starting ``ase.Atoms`` (not modified).
        steps: number of steps (rounded up to whole blocks of ``interval``).
        ensemble: ``"nve"`` or ``"langevin"``.
        timestep_fs: time step (fs).
        temperature_K: initial temperature, and the thermostat's.
        friction_per_fs: Langevin friction (1/fs).
        pressure_GPa: ``"npt"``: the external pressure (GPa).
        thermostat_fs: ``"npt"``: the thermostat's time (fs; default 100 timesteps).
        barostat_fs: ``"npt"``: the barostat's time (fs; default 1000 timesteps).
        interval: steps between frames.
        seed: seed of the momenta and of the Langevin noise.
        write_frame: called with an ``ase.Atoms`` of the state, at the start and every
            ``interval`` steps.

    Returns:
        The final ``ase.Atoms`` (with energy and forces attached as a single-point calculator).

    Raises:
        MissingExtraError: without jax-md (``pip install 'equitens[jax-md]'``).
        ValueError: for mixed periodic boundaries, a cell narrower than twice the cutoff (at the
            start, or at a frame of a run at constant pressure), an unknown ensemble or a bad
            number.
    """
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator

    from equitens.extras import require
    from equitens.momenta import thermal_momenta

    jax_md = require("jax_md", extra="jax-md", feature="molecular dynamics with JAX MD")
    if ensemble not in ("nve", "langevin", "npt"):
        raise ValueError(f"ensemble must be 'nve', 'langevin' or 'npt', got {ensemble!r}")
    if steps < 0 or interval < 1 or timestep_fs <= 0 or temperature_K < 0:
        raise ValueError("steps must be >= 0, interval >= 1, timestep > 0 and temperature >= 0")
    displacement, shift, R, box = _space(atoms, jax_md)
    if ensemble == "npt" and box is None:
        raise ValueError("ensemble 'npt' needs a cell periodic in all three directions")
    energy, cutoff = energy_fn_from_checkpoint(checkpoint, atoms.numbers, displacement)
    if box is not None:
        _check_cell_width(atoms.cell, cutoff, "at the start")
    partition = jax_md.partition
    neighbor_fn = partition.neighbor_list(
        displacement,
        1e3 if box is None else box,  # free space: any box, as there is no cell list
        cutoff,
        0.5,  # skin (A): the list is rebuilt when an atom has moved half of it
        format=partition.Sparse,
        fractional_coordinates=box is not None,
        # all pairs rather than cell lists: a periodic cell list's array-valued static fields
        # break jax-md 0.2.29's jitted Langevin initialisation
        disable_cell_list=True,
    )
    neighbors = neighbor_fn.allocate(R)
    dt, kT = timestep_fs * units.fs, temperature_K * units.kB
    simulate = jax_md.simulate
    update_kwargs, current_box = None, lambda state: box
    if ensemble == "nve":
        init, apply = simulate.nve(energy, shift, dt)
    elif ensemble == "langevin":
        init, apply = simulate.nvt_langevin(energy, shift, dt, kT, gamma=friction_per_fs / units.fs)
    else:
        init, apply = simulate.npt_nose_hoover(
            energy,
            shift,
            dt,
            pressure_GPa * units.GPa,
            kT,
            barostat_kwargs={"tau": (barostat_fs or 1000 * timestep_fs) * units.fs},
            thermostat_kwargs={"tau": (thermostat_fs or 100 * timestep_fs) * units.fs},
        )
        init = functools.partial(init, box=box)
        current_box = simulate.npt_box

        def update_kwargs(state):  # the neighbour list follows the moving box
            return {"box": simulate.npt_box(state)}

    masses = jnp.asarray(atoms.get_masses(), R.dtype)[:, None]
    rng = np.random.default_rng(seed)
    momenta = jnp.asarray(thermal_momenta(atoms, temperature_K, rng), R.dtype)
    key = jax.random.PRNGKey(seed)
    state = init(key, R, mass=masses, kT=kT, neighbor=neighbors, momenta=momenta)
    run = run_steps(apply, interval, update_kwargs)
    potential = jax.jit(energy)

    def frame(state, neighbors):
        """The state as ``ase.Atoms``: JAX MD's momenta and forces are Cartesian also with
        fractional positions (its periodic_general space makes the gradient so)."""
        out = atoms.copy()
        state_box = current_box(state)
        if state_box is None:
            out.positions = np.asarray(state.position, np.float64)
            e = float(potential(state.position, neighbors))
        else:  # the cell of the state (it moves at constant pressure)
            cell = np.asarray(state_box, np.float64).T
            if ensemble == "npt":
                _check_cell_width(cell, cutoff, f"after {steps_done} steps")
            out.set_cell(cell)
            out.positions = np.asarray(state.position, np.float64) @ cell
            e = float(potential(state.position, neighbors, box=state_box))
        out.set_momenta(np.asarray(state.momentum, np.float64))
        forces = np.asarray(state.force, np.float64)
        out.calc = SinglePointCalculator(out, energy=e, forces=forces)
        return out

    steps_done = 0
    current = frame(state, neighbors)
    if write_frame is not None:
        write_frame(current)
    for _ in range(-(-steps // interval)):
        new_state, new_neighbors = run(state, neighbors)
        if bool(new_neighbors.did_buffer_overflow):  # a larger list, and the block again
            kwargs = {} if update_kwargs is None else update_kwargs(state)
            neighbors = neighbor_fn.allocate(state.position, **kwargs)
            new_state, new_neighbors = run(state, neighbors)
        state, neighbors = new_state, new_neighbors
        steps_done += interval
        current = frame(state, neighbors)
        if write_frame is not None:
            write_frame(current)
    return current
