"""Pieces shared by the convolution benchmarks (``benchmarks.conv``, ``benchmarks.interaction``).

* :func:`irreps_string`: the features of the message-passing workloads, ``C x (0e + 1o + ...)``;
* :func:`e3nn_cg_message`: e3nn-jax's CG edge convolution, the reference the equitens ``"cg"``
  convolution is timed against;
* :func:`cue_method` / :func:`cue_unavailable`: which ``segmented_polynomial`` method the
  cuequivariance-jax baselines (``benchmarks.interaction``, ``benchmarks/model_step.py``) use, and
  why cuequivariance-jax cannot be used here (None when it imports);
* :func:`plan_labels` / :func:`plan_of`: the ``--plan`` flag (``default`` or ``key=value,...``);
* :func:`run_case` / :func:`run_cases`: benchmark cases in their own subprocess, under a timeout;
* :func:`text_table`: fixed-width text tables.

Nothing here initialises a JAX backend at import time: the parents of the subprocess benchmarks
import this module without grabbing the accelerator their workers need.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "DEFAULT_PLAN_LABEL",
    "cue_method",
    "cue_unavailable",
    "e3nn_cg_message",
    "irreps_string",
    "plan_labels",
    "plan_of",
    "python_module_cmd",
    "run_case",
    "run_cases",
    "text_table",
]

DEFAULT_PLAN_LABEL = "default"


def irreps_string(L: int, C: int) -> str:
    """``"Cx0e + Cx1o + Cx2e + ..."`` up to degree ``L`` (the parities of spherical harmonics).

    Examples:
        >>> irreps_string(2, 4)
        '4x0e + 4x1o + 4x2e'
    """
    return " + ".join(f"{C}x{l}{'eo'[l % 2]}" for l in range(L + 1))


def e3nn_cg_message(L: int, C: int) -> tuple[Callable[..., Any], int]:
    """e3nn-jax's CG edge convolution of ``C x (0..L)`` features with the edge harmonics ``0..L``.

    e3nn-jax's legacy ``FunctionalTensorProduct`` with the ``"uvu"`` instructions of the paths of
    the equitens ``"cg"`` convolution (same paths, same weight layout), ``vmap``-ed over edges with
    per-edge weights, and ``e3nn_jax.spherical_harmonics`` (normalized, ``"component"``).

    Args:
        L: largest degree of the features, the harmonics and the output.
        C: channels (multiplicity of every degree).

    Returns:
        ``(f(x, vectors, weights) -> messages, weight_numel)`` on ``(E, dim)``, ``(E, 3)``,
        ``(E, weight_numel)`` arrays.
    """
    import e3nn_jax as e3nn
    import jax
    from e3nn_jax.legacy import FunctionalTensorProduct

    from equitens.conv.interface import sh_irreps
    from equitens.tp.spec import TensorProductSpec

    irreps = irreps_string(L, C)
    spec = TensorProductSpec.channelwise(irreps, sh_irreps(L), irreps)
    instructions = [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in spec.paths]
    tp = FunctionalTensorProduct(
        e3nn.Irreps(irreps), sh_irreps(L).to_e3nn(), e3nn.Irreps(irreps), instructions
    )
    numel = sum(_prod(i.path_shape) for i in tp.instructions if i.has_weight)

    def f(x, v, w):
        sh = e3nn.spherical_harmonics(
            range(L + 1), e3nn.IrrepsArray("1o", v), normalize=True, normalization="component"
        )
        return jax.vmap(tp.left_right)(w, e3nn.IrrepsArray(irreps, x), sh).array

    return f, numel


def cue_method(requested: str = "auto") -> str:
    """The ``segmented_polynomial`` method ``cue`` uses: ``requested`` unless ``"auto"``.

    ``"auto"``: ``"uniform_1d"`` (CUDA kernel) on a GPU where ``cuequivariance_ops_jax`` is
    installed, otherwise ``"naive"`` (pure JAX, any platform). Initialises the JAX backend.

    Examples:
        >>> cue_method("naive_indexed")
        'naive_indexed'
    """
    if requested != "auto":
        return requested
    import jax

    gpu = jax.default_backend() == "gpu"
    return "uniform_1d" if gpu and importlib.util.find_spec("cuequivariance_ops_jax") else "naive"


def cue_unavailable() -> str | None:
    """Why ``cuequivariance_jax`` cannot be used here (its import error), or None if it imports.

    Imported in a subprocess: the parent process never initialises a JAX backend.
    """
    code = "import cuequivariance, cuequivariance_jax"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    tail = proc.stderr.strip().splitlines()[-1:] or ["import failed"]
    return tail[0] + " (pip install cuequivariance cuequivariance-jax)"


def _prod(shape: Sequence[int]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


def plan_labels(texts: Sequence[str] | None) -> list[str]:
    """The ``--plan`` values, checked and normalised (``""`` and ``"default"`` -> ``"default"``).

    Args:
        texts: the values given (``None``: just the default plan).

    Returns:
        One label per distinct plan, in the order given.

    Raises:
        ValueError: for a setting a :class:`~equitens.tp.plan.Plan` does not have.

    Examples:
        >>> plan_labels(None)
        ['default']
        >>> plan_labels(["default", "chunk=none", " chunk=none "])
        ['default', 'chunk=none']
    """
    labels: list[str] = []
    for text in texts or [DEFAULT_PLAN_LABEL]:
        label = text.strip() or DEFAULT_PLAN_LABEL
        plan_of(label)  # fails early, in the parent, with the Plan's message
        if label not in labels:
            labels.append(label)
    return labels


def plan_of(label: str):
    """The :class:`~equitens.tp.plan.Plan` of a ``--plan`` label.

    Examples:
        >>> plan_of("default") == plan_of("")
        True
        >>> plan_of("chunk=none").chunk is None
        True
    """
    from equitens.tp.plan import Plan, as_plan

    label = label.strip()
    return Plan() if label in ("", DEFAULT_PLAN_LABEL) else as_plan(label)


def run_case(cmd: Sequence[str], timeout: float, ident: dict[str, Any]) -> dict[str, Any]:
    """Run one worker in a subprocess and return the record it printed on a ``RECORD {json}`` line.

    Each case in its own process: compile caches and device memory do not leak between cases,
    and a case that hangs or runs out of memory costs only itself.

    Args:
        cmd: the worker's command line.
        timeout: seconds before the worker is killed (recorded as ``status: "timeout (... s)"``).
        ident: the fields that identify the case (copied into every record, even failed ones).

    Returns:
        The worker's record with ``status`` (``"ok"`` unless the worker set another) and
        ``wall_s``; or ``ident`` with ``status: "error: <last lines of stderr>"``.
    """
    return run_cases(cmd, timeout, [ident])[0]


def run_cases(
    cmd: Sequence[str], timeout: float, idents: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run a worker that measures several cases, one ``RECORD {json}`` line each, in order.

    Args:
        cmd: the worker's command line.
        timeout: seconds before the worker is killed; the cases it finished keep their records.
        idents: the fields that identify each case, in the order the worker prints them.

    Returns:
        One record per case, as :func:`run_case` (``wall_s`` only for a single case).
    """
    start = time.perf_counter()
    failure = None
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as error:
        stdout, stderr = _text(error.stdout), _text(error.stderr)
        failure = f"timeout ({timeout:g} s)"
    found = [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RECORD ")]
    if failure is None:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        failure = "error: " + " | ".join(tail)
    records = []
    for i, ident in enumerate(idents):
        if i < len(found):
            record = {**ident, **found[i]}
            record.setdefault("status", "ok")
            if len(idents) == 1:
                record["wall_s"] = time.perf_counter() - start
        else:
            record = {**ident, "status": failure}
        records.append(record)
    return records


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def python_module_cmd(module: str, *args: str) -> list[str]:
    """``[python, -m, module, *args]`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 0) -> str:
    """A fixed-width table: the first ``left`` columns left-aligned, the others right-aligned.

    Examples:
        >>> print(text_table(["a", "bb"], [["x", "1"]], left=1))
        a  bb
        -  --
        x   1
    """
    lines = [list(header), *(list(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        cells = (
            c.ljust(w) if j < left else c.rjust(w)
            for j, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
