"""Checkpoints that never lose work.

A checkpoint is one file: a magic line, the SHA-256 of the payload, and the payload (msgpack,
via ``flax.serialization``) holding the parameters, the optimiser state, the EMA parameters,
step, epoch, plateau state, best validation loss, the configuration (YAML text), the species
table and the atomic energies (no RNG key: the loop's randomness is a function of the
configuration's seed and the epoch, so a resumed run needs none). :func:`save_checkpoint` writes
it atomically: to a temporary file in the same folder, ``fsync``, read back and verified, then
``os.replace`` over the old file, so a crash or a full disk leaves the previous checkpoint
intact. :func:`load_checkpoint` checks the checksum and raises a ``ValueError`` that names the
file and the other checkpoint to use when it is corrupted.

A run keeps two: ``checkpoints/latest.ckpt`` (written after each epoch, used to resume) and
``checkpoints/best.ckpt`` (the lowest validation loss, used for test, evaluation and MD).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from flax import serialization

__all__ = [
    "CHECKPOINT_FORMAT",
    "load_checkpoint",
    "resolve_checkpoint",
    "restore_tree",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1
_MAGIC = b"EQUITENS-CHECKPOINT\n"


def _to_numpy(tree: Any) -> Any:
    """Device arrays to numpy, namedtuples/tuples to state dicts (msgpack-serialisable)."""
    state = serialization.to_state_dict(tree)
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x) if isinstance(x, jax.Array | np.ndarray | np.generic) else x, state
    )


def _encode(state: Mapping[str, Any]) -> bytes:
    payload = serialization.msgpack_serialize(_to_numpy(dict(state)))
    digest = hashlib.sha256(payload).hexdigest().encode()
    return _MAGIC + digest + b"\n" + payload


def _decode(data: bytes, path: pathlib.Path) -> dict:
    def corrupted(reason: str) -> ValueError:
        others = [p.name for p in sorted(path.parent.glob("*.ckpt")) if p != path]
        hint = (
            f"; the other checkpoint(s) in {str(path.parent)!r}: {', '.join(others)}"
            if others
            else ""
        )
        return ValueError(f"checkpoint {str(path)!r} is corrupted ({reason}){hint}")

    if not data.startswith(_MAGIC):
        raise corrupted("it does not start with the equitens checkpoint header")
    rest = data[len(_MAGIC) :]
    digest, sep, payload = rest.partition(b"\n")
    if not sep or len(digest) != 64:
        raise corrupted("truncated header")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise corrupted("checksum mismatch: the file was truncated or modified")
    try:
        state = serialization.msgpack_restore(payload)
    except Exception as error:  # any parse failure means a bad file
        raise corrupted(f"cannot decode the payload: {error}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise corrupted(f"unknown format {state.get('format') if isinstance(state, dict) else ''}")
    return state


def save_checkpoint(path: str | pathlib.Path, state: Mapping[str, Any]) -> pathlib.Path:
    """Write a checkpoint atomically (temporary file, fsync, verify, ``os.replace``).

    Args:
        path: the checkpoint file to (over)write; its folder is created if needed.
        state: a mapping of pytrees and plain values (numpy/jax arrays, dicts, tuples,
            namedtuples such as optax states, numbers, strings, None). ``"format"`` is added.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, numpy as np
        >>> folder = tempfile.mkdtemp()
        >>> path = save_checkpoint(folder + "/latest.ckpt", {"params": {"w": np.ones(2)},
        ...                        "step": 3, "config": "a: 1\\n"})
        >>> load_checkpoint(path)["step"]
        3
        >>> path = save_checkpoint(folder + "/c.ckpt", {"config": {"model": {"radial_mlp": [8]}}})
        >>> load_checkpoint(path)["config"]["model"]["radial_mlp"]  # a config dict: YAML inside
        [8]
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(state.get("config"), Mapping):  # as YAML text: lists stay lists on loading
        from equitens.train.config import dump_config

        state = {**state, "config": dump_config(state["config"])}
    data = _encode({**state, "format": CHECKPOINT_FORMAT})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if tmp.read_bytes() != data:  # verify before the old checkpoint is replaced
            raise OSError(f"checkpoint {str(tmp)!r} did not read back as written")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass
    return path


def resolve_checkpoint(path: str | pathlib.Path, which: str = "best") -> pathlib.Path:
    """Find a checkpoint file from a file, a ``checkpoints/`` folder or a run folder.

    Args:
        path: a ``.ckpt`` file, a folder holding ``<which>.ckpt``, or a run folder holding
            ``checkpoints/<which>.ckpt``.
        which: ``"best"`` or ``"latest"``; when the folder lacks it, the other one is used.

    Returns:
        The checkpoint file.

    Raises:
        ValueError: when no checkpoint is found (the message lists where it looked).

    Examples:
        >>> import tempfile, numpy as np
        >>> run = tempfile.mkdtemp()
        >>> _ = save_checkpoint(run + "/checkpoints/latest.ckpt", {"step": 1})
        >>> resolve_checkpoint(run).name
        'latest.ckpt'
    """
    path = pathlib.Path(path)
    if path.is_file():
        return path
    other = "latest" if which == "best" else "best"
    candidates = [
        path / f"{which}.ckpt",
        path / "checkpoints" / f"{which}.ckpt",
        path / f"{other}.ckpt",
        path / "checkpoints" / f"{other}.ckpt",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates[:2])
    raise ValueError(
        f"no checkpoint found at {str(path)!r} (looked for {looked}); pass a .ckpt file or the "
        "folder of a training run (runs/<name>)"
    )


def load_checkpoint(path: str | pathlib.Path, which: str = "best") -> dict:
    """Read and verify a checkpoint.

    Args:
        path: a checkpoint file, or a folder (see :func:`resolve_checkpoint`).
        which: ``"best"`` or ``"latest"`` when ``path`` is a folder.

    Returns:
        The saved state as a dict of numpy arrays and plain values. Training checkpoints hold
        ``"config"`` (a dict), ``"params"``, ``"species"`` (an
        ``equitens.data.SpeciesTable`` when that module is available, else a tuple of atomic
        numbers), ``"atomic_numbers"`` (tuple), ``"atomic_energies"`` (numpy array),
        ``"ema_params"``, ``"opt_state"`` (a state dict; see :func:`restore_tree`), ``"step"``,
        ``"epoch"`` and ``"path"`` (the file read).

    Raises:
        ValueError: when the file is missing, truncated, modified or not a checkpoint.

    Examples:
        >>> import tempfile, numpy as np
        >>> path = save_checkpoint(tempfile.mkdtemp() + "/best.ckpt",
        ...                        {"params": {"w": np.arange(3.0)}})
        >>> load_checkpoint(path)["params"]["w"].tolist()
        [0.0, 1.0, 2.0]
    """
    path = resolve_checkpoint(path, which)
    state = _decode(path.read_bytes(), path)
    if isinstance(state.get("config"), str):
        from equitens.train.config import _yaml_load

        state["config"] = _yaml_load(state["config"], f"the configuration in {path}")
    if "species" in state:
        numbers = tuple(int(z) for z in np.asarray(state["species"]).reshape(-1))
        state["atomic_numbers"] = numbers
        state["species"] = _species_table(numbers)
    if "atomic_energies" in state:
        state["atomic_energies"] = np.asarray(state["atomic_energies"])
    state["path"] = str(path)
    return state


def _species_table(numbers: tuple[int, ...]):
    try:
        from equitens.data import SpeciesTable
    except ImportError:
        return numbers
    return SpeciesTable(numbers)


def restore_tree(template: Any, state: Any) -> Any:
    """Rebuild a pytree (e.g. an optax state of namedtuples) from its saved state dict.

    Args:
        template: a pytree with the wanted structure (e.g. ``optimizer.init(params)``).
        state: the saved state dict of the same structure.

    Returns:
        ``template``'s structure holding the saved arrays.

    Raises:
        ValueError: when the saved structure does not match the template (e.g. the checkpoint
            was written with another model or optimiser configuration).

    Examples:
        >>> import optax, numpy as np
        >>> opt = optax.adam(0.1)
        >>> template = opt.init({"w": np.zeros(2)})
        >>> saved = load_checkpoint(save_checkpoint(
        ...     __import__("tempfile").mkdtemp() + "/x.ckpt", {"opt_state": template}))
        >>> type(restore_tree(template, saved["opt_state"])[0]).__name__
        'ScaleByAdamState'
    """

    def mismatch(reason: str) -> ValueError:
        return ValueError(
            "the checkpoint does not match the current model/optimiser configuration "
            f"({reason}); resume with the configuration saved in the run folder (config.yaml)"
        )

    try:
        restored = serialization.from_state_dict(template, state)
    except (ValueError, KeyError, TypeError) as error:
        raise mismatch(str(error)) from None
    leaves, treedef = jax.tree_util.tree_flatten(template)
    new_leaves, new_treedef = jax.tree_util.tree_flatten(restored)
    if treedef != new_treedef:
        raise mismatch("different tree structure")
    for old, new in zip(leaves, new_leaves, strict=True):
        if np.shape(old) != np.shape(new):
            raise mismatch(f"an array of shape {np.shape(new)} where {np.shape(old)} is expected")
    return restored
