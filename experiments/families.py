"""Accuracy against time of the tensor-product families inside trained potentials (rMD17).

Eight potentials with the same hyper-parameters, data and wall-clock budget, differing only in
the tensor-product family of one layer:

- MACE with the edge convolution ``model.conv_method`` in ``cg``, ``so2``, ``gaunt_grid``, ``cp``
  (product basis ``cg``);
- MACE with the product basis ``model.product_method`` in ``gaunt_grid``, ``gaunt_fourier``
  (convolution ``cg``; the baseline ``mace-cg`` is shared with the first group);
- NequIP with ``model.conv_method`` in ``cg``, ``so2``.

Each run trains on 950 frames of ``rmd17_aspirin_train.xyz`` (50 more, drawn with a fixed seed
from the same file, validate) for ``--budget-minutes`` of wall-clock time, compilation included
(``training.max_time``), and is tested on every frame of ``rmd17_aspirin_test.xyz``. Per run the
JSON under ``experiments/results/families/`` records the test errors, the train-step time
(median over timed steps on one fixed training batch, after compilation, measured before the
training run in the same process), the compile time of the train step, the inference time per
structure (energy and forces of one structure), the parameter count, the expressivity of the
layer's family (see :func:`conv_expressivity` and :func:`product_expressivity`), and the epochs
and steps done in the budget. ``--ethanol`` re-trains the three runs with the lowest aspirin
force MAE on rMD17 ethanol and evaluates them on the out-of-distribution files of
``ethanol/`` (H removal, two normal-mode scans); with ``--runs``, only those of the three that
it names (so that two processes, one per core, can share them).

Runs are resumable: a run whose JSON exists is skipped (a run folder without its JSON, an
interrupted run, is started again), so the experiment can be done in pieces::

    taskset -c 1 python experiments/families.py                    # all 8 runs, 10 min each
    taskset -c 1 python experiments/families.py --runs mace-cg,nequip-cg
    taskset -c 1 python experiments/families.py --ethanol          # the best three on ethanol
    python experiments/families.py --only-report                   # tables and figure again
    taskset -c 0 python experiments/families.py --quick            # 2-minute smoke run

The report is ``experiments/families.md`` and ``experiments/families.png`` (force MAE against
train-step time), also written into ``docs/guide/families.md`` (between its result markers) and
``docs/guide/families.png``. ``--quick`` trains tiny models for seconds on a few frames and
writes everything under ``experiments/results/families-quick/`` instead.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python experiments/families.py` from the repository root
    sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "families"
QUICK_RESULTS = HERE / "results" / "families-quick"
REPORT_MD = HERE / "families.md"
REPORT_PNG = HERE / "families.png"
DOCS_PAGE = ROOT / "docs" / "guide" / "families.md"
DOCS_PNG = ROOT / "docs" / "guide" / "families.png"
START, END = "<!-- families:results:start -->", "<!-- families:results:end -->"

# name -> (model, conv_method, product_method); product_method None: NequIP has no product basis
RUNS: dict[str, tuple[str, str, str | None]] = {
    "mace-cg": ("mace", "cg", "cg"),
    "mace-conv-so2": ("mace", "so2", "cg"),
    "mace-conv-gaunt_grid": ("mace", "gaunt_grid", "cg"),
    "mace-conv-cp": ("mace", "cp", "cg"),
    "mace-prod-gaunt_grid": ("mace", "cg", "gaunt_grid"),
    "mace-prod-gaunt_fourier": ("mace", "cg", "gaunt_fourier"),
    "nequip-cg": ("nequip", "cg", None),
    "nequip-so2": ("nequip", "so2", None),
}

# The shared hyper-parameters (the MACE set is the issue's speed target for the product basis:
# lmax 3, correlation 3, 64 channels). NequIP: a comparable size whose step is affordable.
MODELS: dict[str, dict[str, Any]] = {
    "mace": {
        "num_channels": 64,
        "lmax": 3,
        "hidden_lmax": 1,
        "correlation": 3,
        "num_interactions": 2,
        "cutoff": 5.0,
        "num_radial_basis": 8,
        "radial_mlp": [64, 64],
    },
    "nequip": {
        "num_channels": 32,
        "lmax": 2,
        "parity": True,
        "num_interactions": 3,
        "cutoff": 5.0,
        "num_radial_basis": 8,
        "radial_mlp": [64, 64],
    },
}
QUICK_MODELS: dict[str, dict[str, Any]] = {
    "mace": {
        **MODELS["mace"],
        "num_channels": 4,
        "lmax": 1,
        "correlation": 2,
        "num_interactions": 1,
        "radial_mlp": [8],
    },
    "nequip": {
        **MODELS["nequip"],
        "num_channels": 4,
        "lmax": 1,
        "num_interactions": 1,
        "radial_mlp": [8],
    },
}
TRAINING: dict[str, Any] = {
    "seed": 0,
    "dtype": "float32",
    "data": {"batch_size": 5, "eval_batch_size": 16, "num_buckets": 1},
    "loss": {"energy_weight": 1.0, "forces_weight": 10.0},
    "optimizer": {"name": "amsgrad", "learning_rate": 0.01, "schedule": "plateau"},
}

# rMD17 splits: 950 training and 50 validation frames from the training file
NUM_TRAIN, NUM_VALID = 950, 50
QUICK = {"train": 20, "valid": 10, "test": 10, "budget_s": 1, "steps": 3, "ethanol": 1}
DATASETS = {
    "aspirin": {
        "train": "aspirin/rmd17_aspirin_train.xyz",
        "test": "aspirin/rmd17_aspirin_test.xyz",
        "isolated": None,
        "ood": {},
    },
    "ethanol": {
        "train": "ethanol/train.xyz",
        "test": "ethanol/test_MD.xyz",
        "isolated": "ethanol/isolated_atoms.xyz",
        "ood": {
            "H_removal": "ethanol/test_H_removal.xyz",
            "norm_mode_874": "ethanol/test_norm_mode_874.xyz",
            "norm_mode_3005": "ethanol/test_norm_mode_3005.xyz",
        },
    },
}
NUM_ETHANOL = 3


# ---------------------------------------------------------------- run lists and resuming


def select_runs(text: str | None) -> list[str]:
    """The runs named by ``--runs`` (comma-separated), in the order of :data:`RUNS`.

    Examples:
        >>> select_runs("nequip-cg,mace-cg")
        ['mace-cg', 'nequip-cg']
        >>> len(select_runs(None))
        8
    """
    if not text:
        return list(RUNS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise ValueError(f"unknown run(s) {unknown}; choose from {', '.join(RUNS)}")
    return [n for n in RUNS if n in names]


def result_path(results_dir: Path, name: str, dataset: str = "aspirin") -> Path:
    """Where a run's JSON goes (``<name>.json``; ethanol runs ``ethanol-<name>.json``)."""
    prefix = "" if dataset == "aspirin" else f"{dataset}-"
    return Path(results_dir) / f"{prefix}{name}.json"


def pending_runs(names: Sequence[str], results_dir: Path, dataset: str = "aspirin") -> list[str]:
    """The runs of ``names`` without a result JSON yet (the others are skipped)."""
    return [n for n in names if not result_path(results_dir, n, dataset).is_file()]


def load_results(results_dir: Path) -> dict[str, dict]:
    """Every result JSON of a results folder, by file stem (unreadable files are skipped)."""
    found = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            found[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            print(f"skipping {path}: {error}")
    return found


def best_runs(
    results: Mapping[str, dict], k: int = NUM_ETHANOL, among: list[str] | None = None
) -> list[str]:
    """The ``k`` aspirin runs with the lowest test force MAE (ties: the order of :data:`RUNS`),
    keeping only those in ``among`` when given (``--ethanol --runs``: one process per core)."""
    done = [n for n in RUNS if n in results and _metric(results[n], "forces_mae") is not None]
    best = sorted(done, key=lambda n: _metric(results[n], "forces_mae"))[:k]
    return best if among is None else [n for n in best if n in among]


def _metric(result: Mapping, key: str, split: str = "test") -> float | None:
    value = result.get("errors", {}).get(split, {}).get(key)
    return None if value is None else float(value)


# ---------------------------------------------------------------- configurations


def count_frames(path: Path) -> int:
    """Frames of an extxyz file (atom-count lines followed by that many atom lines)."""
    count = 0
    with open(path) as handle:
        while line := handle.readline():
            if not line.strip():
                continue
            atoms = int(line.split()[0])
            for _ in range(atoms + 1):
                handle.readline()
            count += 1
    return count


def run_config(
    name: str,
    dataset: str,
    data_dir: Path,
    out_dir: Path,
    *,
    quick: bool,
    max_time: float | None,
) -> dict:
    """The (partial) training configuration of a run; ``load_config(base=...)`` completes it."""
    model, conv, product = RUNS[name]
    files = DATASETS[dataset]
    train_file = Path(data_dir) / files["train"]
    frames = count_frames(train_file)
    num_train, num_valid = (QUICK["train"], QUICK["valid"]) if quick else (NUM_TRAIN, NUM_VALID)
    if frames < num_train + num_valid:
        raise ValueError(f"{train_file} holds {frames} frames, fewer than {num_train + num_valid}")
    hyper = {**(QUICK_MODELS if quick else MODELS)[model], "name": model, "conv_method": conv}
    if product is not None:
        hyper["product_method"] = product
    prefix = "" if dataset == "aspirin" else f"{dataset}-"
    return {
        "name": f"{prefix}{name}",
        "output_dir": str(Path(out_dir) / "runs"),
        "seed": TRAINING["seed"],
        "dtype": TRAINING["dtype"],
        "data": {
            **TRAINING["data"],
            "train_file": str(train_file),
            "test_file": str(Path(data_dir) / files["test"]),
            "isolated_file": str(Path(data_dir) / files["isolated"]) if files["isolated"] else None,
            "valid_fraction": num_valid / frames,
            "test_fraction": 0.0,
            "max_train_frames": num_train,
        },
        "model": hyper,
        "loss": dict(TRAINING["loss"]),
        "optimizer": dict(TRAINING["optimizer"]),
        "training": {"epochs": 100000, "max_time": max_time, "progress": False},
    }


# ---------------------------------------------------------------- measurements


def _median_time(fn: Callable[[], Any], steps: int) -> list[float]:
    import jax

    times = []
    for _ in range(steps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return times


def measure_timings(config: dict, datasets: Any, steps: int) -> dict:
    """Train-step and inference times of a run's model, before it trains.

    The train step is the training loop's own (:func:`equitens.train.loop.make_train_step`:
    energy and forces, loss, gradient, optimiser and EMA update) on the first padded batch of
    the training loader; it is lowered and compiled ahead of time (``compile_s``: tracing,
    lowering and compilation), run once, then timed ``steps`` times. Inference: energy and
    forces of one structure (the first test frame, padded as for MD), compiled, then timed.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from equitens import models
    from equitens.data import GraphLoader
    from equitens.precision import run_dtype
    from equitens.train.datasets import resolve_auto_model_keys
    from equitens.train.evaluate import cast_batch, fixed_size_batches
    from equitens.train.loop import TrainState, make_train_step
    from equitens.train.loss import LossWeights
    from equitens.train.optimizer import make_optimizer

    config = {**config, "model": resolve_auto_model_keys(config, datasets)}
    dtype = run_dtype(config["dtype"])
    batch_size = int(config["data"]["batch_size"])
    loader = GraphLoader(datasets.train, batch_size, shuffle=False, num_buckets=1)
    batch = cast_batch(next(iter(loader)), dtype)
    model = models.build_model(config, datasets.species, np.asarray(datasets.atomic_energies))
    params = cast_batch(jax.jit(model.init)(jax.random.PRNGKey(0), batch), dtype)
    num_params = int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))
    optimizer = make_optimizer(config["optimizer"], total_steps=len(loader))
    ema = config["optimizer"]["ema_decay"]
    state = TrainState(params, optimizer.init(params), params if ema else None, jnp.asarray(0))
    step = make_train_step(
        model, models.predict, optimizer, LossWeights.from_config(config["loss"]), ema, False
    )
    lr = jnp.asarray(1.0, dtype)
    start = time.perf_counter()
    compiled = step.lower(state, batch, lr).compile()
    compile_s = time.perf_counter() - start
    state = jax.block_until_ready(compiled(state, batch, lr))[0]  # warm-up
    step_times = _median_time(lambda: compiled(state, batch, lr), steps)

    frame = datasets.test[0] if datasets.test else datasets.train[0]
    (single,) = fixed_size_batches([frame], 1)
    single = cast_batch(single, dtype)

    def forward(p, g):
        out = models.predict(model, p, g, compute_stress=False)
        return out["energy"], out["forces"]

    start = time.perf_counter()
    infer = jax.jit(forward).lower(params, single).compile()
    infer_compile_s = time.perf_counter() - start
    jax.block_until_ready(infer(params, single))
    infer_times = _median_time(lambda: infer(params, single), max(steps, 5))
    return {
        "num_parameters": num_params,
        "train_step_s": statistics.median(step_times),
        "train_step_times_s": step_times,
        "train_step_batch": batch_size,
        "train_step_padding": [int(batch.n_node.sum()), int(batch.n_edge.sum())],
        "compile_s": compile_s,
        "inference_s": statistics.median(infer_times),
        "inference_compile_s": infer_compile_s,
        "steps_per_epoch": len(loader),
    }


def layer_irreps(model: str, hyper: Mapping[str, Any], channels: int = 1):
    """``(irreps_in, irreps_out)`` of the edge convolution of the model's second interaction.

    The first interaction convolves scalars only; the second one's input is the hidden
    features (MACE: ``0e + 1o + ...`` up to ``hidden_lmax``; NequIP: the gated features).
    """
    from equitens.models.blocks import hidden_irreps, reachable_irreps
    from equitens.so3.irreps import Irrep, Irreps

    lmax = int(hyper["lmax"])
    if model == "mace":
        irreps_in = hidden_irreps(channels, int(hyper["hidden_lmax"]))
        keep = hidden_irreps(channels, lmax)
    else:
        keep = hidden_irreps(channels, lmax, both_parities=bool(hyper["parity"]))
        first = reachable_irreps(Irreps(f"{channels}x0e"), lmax, lmax, channels, keep=keep)
        gated = [(m, ir) for m, ir in keep if ir.l > 0 and any(ir == i for _, i in first)]
        irreps_in = Irreps([(channels, Irrep(0, 1))] + gated)
    return irreps_in, reachable_irreps(irreps_in, lmax, lmax, channels, keep=keep)


@functools.cache
def conv_expressivity(method: str, irreps_in, irreps_out, lmax: int, seed: int = 0) -> dict:
    """Expressivity of an edge-convolution family, through its own kernel, for one channel.

    In the spirit of :func:`equitens.analysis.expressivity` (``Linear o TP o (Linear,
    Linear)``): the layer is ``x -> Lout(conv(Lin(x), r, w))`` with ``Lin``, ``Lout`` one weight
    per irrep (the linear maps around the convolution at one channel) and ``w`` the per-edge
    weights; ``dimension`` is the generic rank of the Jacobian, with respect to all these
    weights, of its values on random ``(x, r)`` (float64): the dimension of the reachable set of
    equivariant maps ``x (x) Y(r) -> message``. ``bound``: the number of parity-allowed paths
    ``(ir_in, l_Y) -> ir_out`` (what ``cg``, a free weight per path, reaches).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from equitens.analysis import bilinear_paths
    from equitens.conv import edge_convolution, sh_irreps
    from equitens.so3.irreps import Irreps

    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    with jax.enable_x64(True):
        conv = edge_convolution(irreps_in, irreps_out, lmax, method=method)
        n_in, n_out, n_w = len(irreps_in), len(irreps_out), conv.weight_numel
        rep_in = np.repeat(np.arange(n_in), [ir.dim for _, ir in irreps_in])
        rep_out = np.repeat(np.arange(n_out), [ir.dim for _, ir in irreps_out])
        samples = 8 + 2 * (n_in + n_out + n_w)
        kx, kr, kp = jax.random.split(jax.random.PRNGKey(seed), 3)
        x = jax.random.normal(kx, (samples, irreps_in.dim), jnp.float64)
        r = jax.random.normal(kr, (samples, 3), jnp.float64)

        def layer(p):
            lin, lout, w = p[:n_in], p[n_in : n_in + n_out], p[n_in + n_out :]
            weights = jnp.broadcast_to(w, (samples, n_w))
            return (conv(x * lin[rep_in], r, weights) * lout[rep_out]).reshape(-1)

        point = jax.random.normal(kp, (n_in + n_out + n_w,), jnp.float64)
        jac = np.asarray(jax.jit(jax.jacrev(layer))(point))
    s = np.linalg.svd(jac, compute_uv=False)
    rank = int(np.sum(s > 1e-9 * s[0])) if s.size and s[0] > 0 else 0
    # rescaling Lin of an irrep and Lout of another trade off: the rank counts maps, not weights
    bound = len(bilinear_paths(irreps_in, sh_irreps(lmax), irreps_out))
    return {"dimension": rank, "bound": bound, "irreps_in": str(irreps_in), "out": str(irreps_out)}


def product_expressivity(method: str, hyper: Mapping[str, Any]) -> dict:
    """Expressivity of the product basis: independent polynomials of the family summed over
    every degree ``nu`` and output irrep (:func:`equitens.analysis.product_basis_expressivity`,
    one channel, the first interaction's output irreps ``0e + 1o + ...`` up to ``hidden_lmax``),
    against all equivariant polynomials (``bound``, what ``cg`` reaches)."""
    return _product_expressivity(
        method, int(hyper["lmax"]), int(hyper["hidden_lmax"]), int(hyper["correlation"])
    )


@functools.cache
def _product_expressivity(method: str, lmax: int, hidden_lmax: int, correlation: int) -> dict:
    from equitens.analysis.product_basis import product_basis_expressivity
    from equitens.models.blocks import hidden_irreps

    report = product_basis_expressivity(
        hidden_irreps(1, lmax), hidden_irreps(1, hidden_lmax), correlation, method
    )
    return {
        "dimension": sum(c.reachable for c in report.counts),
        "bound": sum(c.upper_bound for c in report.counts),
        "weights_per_channel": report.weights_per_channel,
    }


def expressivity_of(name: str, hyper: Mapping[str, Any]) -> dict:
    """Both expressivity measures of a run (``product`` is None for NequIP)."""
    model, conv, product = RUNS[name]
    irreps_in, irreps_out = layer_irreps(model, hyper)
    conv_measure = conv_expressivity(conv, str(irreps_in), str(irreps_out), int(hyper["lmax"]))
    out = {"conv": dict(conv_measure)}
    out["product"] = dict(product_expressivity(product, hyper)) if product else None
    return out


# ---------------------------------------------------------------- running


def machine() -> dict:
    """The CPU, the cores this process may use, the jax version and the date."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "python": platform.python_version(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


_DATASETS: dict = {}


def _datasets(config: dict, test_frames: int | None):
    """The run's data, read once per process for each data set and cutoff."""
    from equitens.train.datasets import prepare_datasets

    data = config["data"]
    key = (data["train_file"], data["test_file"], float(config["model"]["cutoff"]), test_frames)
    if key not in _DATASETS:
        datasets = prepare_datasets(config)
        if test_frames is not None:
            datasets = type(datasets)(
                datasets.train,
                datasets.valid,
                datasets.test[:test_frames],
                datasets.species,
                datasets.atomic_energies,
            )
        _DATASETS.clear()
        _DATASETS[key] = datasets
    return _DATASETS[key]


def _mev(errors: Mapping[str, Any]) -> dict:
    """Errors in meV, meV/atom, meV/A (the keys keep their names; counts stay as they are)."""
    return {
        k: (1000.0 * v if isinstance(v, float) and ("mae" in k or "rmse" in k) else v)
        for k, v in errors.items()
        if not isinstance(v, (dict, list))
    }


def run_one(
    name: str,
    dataset: str,
    args: argparse.Namespace,
    out_dir: Path,
    command: str,
) -> dict:
    """Measure, train, test (and for ethanol, evaluate the OOD files) one run; write its JSON."""
    from equitens.train import train
    from equitens.train.config import load_config
    from equitens.train.evaluate import evaluate_checkpoint

    quick = bool(args.quick)
    budget = QUICK["budget_s"] if quick else max(round(60 * float(args.budget_minutes)), 1)
    base = run_config(name, dataset, args.data_dir, out_dir, quick=quick, max_time=budget)
    config = load_config(base=base)
    run_dir = Path(config["output_dir"]) / config["name"]
    if run_dir.exists():  # an interrupted run: start it again
        print(f"{name}: removing the unfinished run folder {run_dir}")
        shutil.rmtree(run_dir)
    datasets = _datasets(config, QUICK["test"] if quick else None)
    print(f"== {config['name']}: {datasets.sizes()} frames, budget {budget:.0f} s", flush=True)

    clock = time.perf_counter()
    timings = measure_timings(config, datasets, QUICK["steps"] if quick else args.timed_steps)
    measure_s = time.perf_counter() - clock
    # stop at the end of the last epoch that fits: the loop checks max_time after each epoch
    epoch_s = timings["steps_per_epoch"] * timings["train_step_s"]
    config["training"]["max_time"] = max(int(budget - epoch_s), 1)  # an integer key
    print(
        f"   step {1000 * timings['train_step_s']:.1f} ms, compile {timings['compile_s']:.1f} s, "
        f"epoch ~{epoch_s:.0f} s, max_time {config['training']['max_time']} s "
        f"(measured in {measure_s:.0f} s)",
        flush=True,
    )
    start = time.perf_counter()
    results = train(config, prepare_data=lambda _config: datasets)
    wall_s = time.perf_counter() - start
    hyper = {k: v for k, v in results_config(run_dir)["model"].items() if k != "plan"}
    errors = {split: _mev(results[split]) for split in ("valid", "test") if split in results}
    ood = {}
    for key, path in DATASETS[dataset]["ood"].items():
        evaluated = evaluate_checkpoint(run_dir, Path(args.data_dir) / path)
        ood[key] = {**_mev(evaluated), "file": path}
    clock = time.perf_counter()
    expressivity = expressivity_of(name, hyper)
    print(
        f"   trained and tested in {wall_s:.0f} s, expressivity in "
        f"{time.perf_counter() - clock:.0f} s",
        flush=True,
    )
    model, conv, product = RUNS[name]
    record = {
        "name": name,
        "dataset": dataset,
        "model": model,
        "conv_method": conv,
        "product_method": product,
        "quick": quick,
        "hyper_parameters": hyper,
        "training": {
            "budget_s": budget,
            "max_time_s": config["training"]["max_time"],
            "train_time_s": results["train_time_s"],
            "wall_s": wall_s,
            "epochs": results["epochs"],
            "steps": results["steps"],
            "best_epoch": results["best_epoch"],
            "batch_size": config["data"]["batch_size"],
            "loss": config["loss"],
            "optimizer": config["optimizer"],
        },
        "frames": datasets.sizes(),
        "data": {k: config["data"][k] for k in ("train_file", "test_file", "isolated_file")},
        "errors": errors,
        "ood": ood,
        "timings": timings,
        "expressivity": expressivity,
        "machine": machine(),
        "command": command,
        "run_dir": str(run_dir),
    }
    path = result_path(out_dir, name, dataset)
    partial = path.with_suffix(".json.part")  # a killed write leaves no JSON: the run is redone
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)
    print(f"   wrote {path}", flush=True)
    return record


def results_config(run_dir: Path) -> dict:
    """The full configuration a run saved (its ``config.yaml``: the resolved hyper-parameters)."""
    import yaml

    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())


# ---------------------------------------------------------------- report


def _num(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _fraction(measure: Mapping | None) -> str:
    return f"{measure['dimension']} / {measure['bound']}" if measure else "n/a"


def _families(name: str) -> tuple[str, str, str]:
    model, conv, product = RUNS[name]
    return model, conv, product or "n/a"


def aspirin_table(results: Mapping[str, dict]) -> str:
    """One row per run of :data:`RUNS`; runs without a JSON read "not run yet"."""
    header = (
        "| run | model | conv | product basis | E MAE (meV/atom) | E RMSE (meV/atom) | "
        "F MAE (meV/A) | F RMSE (meV/A) | train step (ms) | compile (s) | inference "
        "(ms/structure) | parameters | conv expressivity | product expressivity | epochs | "
        "steps | train time (s) |"
    )
    lines = [header, "|" + "---|" * 17]
    for name in RUNS:
        model, conv, product = _families(name)
        r = results.get(name)
        if r is None:
            lines.append(f"| {name} | {model} | {conv} | {product} | not run yet |" + " |" * 12)
            continue
        t, tr, ex = r["timings"], r["training"], r["expressivity"]
        test = r["errors"].get("test", {})
        lines.append(
            f"| {name} | {model} | {conv} | {product} | "
            f"{_num(test.get('energy_per_atom_mae'), '.2f')} | "
            f"{_num(test.get('energy_per_atom_rmse'), '.2f')} | "
            f"{_num(test.get('forces_mae'))} | {_num(test.get('forces_rmse'))} | "
            f"{_num(1000 * t['train_step_s'])} | {_num(t['compile_s'])} | "
            f"{_num(1000 * t['inference_s'], '.2f')} | {t['num_parameters']} | "
            f"{_fraction(ex.get('conv'))} | {_fraction(ex.get('product'))} | "
            f"{tr['epochs']} | {tr['steps']} | {_num(tr['train_time_s'], '.0f')} |"
        )
    return "\n".join(lines) + "\n"


def ethanol_table(results: Mapping[str, dict]) -> str:
    """Errors of the ethanol runs: MD test set and the out-of-distribution files."""
    runs = [n for n in RUNS if f"ethanol-{n}" in results]
    if not runs:
        return "Not run yet (`--ethanol` re-trains the best three aspirin runs on ethanol).\n"
    lines = [
        "| run | MD test E MAE (meV/atom) | MD test F MAE (meV/A) | "
        + " | ".join(
            f"{k} E MAE (meV/atom) | {k} relative E MAE (meV)" for k in DATASETS["ethanol"]["ood"]
        )
        + " | train step (ms) | epochs |",
        "|" + "---|" * (5 + 2 * len(DATASETS["ethanol"]["ood"])),
    ]
    for name in runs:
        r = results[f"ethanol-{name}"]
        test = r["errors"].get("test", {})
        cells = [_num(test.get("energy_per_atom_mae"), ".2f"), _num(test.get("forces_mae"))]
        for key in DATASETS["ethanol"]["ood"]:
            o = r["ood"].get(key, {})
            cells += [
                _num(o.get("energy_per_atom_mae"), ".2f"),
                _num(o.get("relative_energy_mae"), ".1f"),
            ]
        cells += [_num(1000 * r["timings"]["train_step_s"]), str(r["training"]["epochs"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _hyper_text(results: Mapping[str, dict], quick: bool) -> str:
    models = QUICK_MODELS if quick else MODELS
    lines = []
    for model, hyper in models.items():
        text = ", ".join(f"{k} {v}" for k, v in hyper.items())
        lines.append(f"- {model.upper() if model == 'mace' else 'NequIP'}: {text}")
    data = TRAINING["data"]
    opt = TRAINING["optimizer"]
    lines.append(
        f"- training: batch {data['batch_size']}, loss weights energy "
        f"{TRAINING['loss']['energy_weight']} (eV/atom)^2, forces "
        f"{TRAINING['loss']['forces_weight']} (eV/A)^2, {opt['name']} lr {opt['learning_rate']} "
        f"({opt['schedule']} schedule), EMA 0.99, {TRAINING['dtype']}, seed {TRAINING['seed']}; "
        "other keys: equitens/train/default.yaml"
    )
    sizes = {json.dumps(r.get("frames"), sort_keys=True) for r in results.values()}
    if sizes:
        lines.append("- frames (train / valid / test) of the runs: " + "; ".join(sorted(sizes)))
    return "\n".join(lines)


def _machine_text(results: Mapping[str, dict]) -> str:
    seen = []
    for name, r in results.items():
        m = r.get("machine", {})
        text = (
            f"{m.get('cpu')}, {m.get('cpu_count')} cores, affinity {m.get('affinity')}, "
            f"jax {m.get('jax')} ({m.get('backend')}), python {m.get('python')}"
        )
        seen.append((text, m.get("date", "?"), name))
    if not seen:
        return "- not run yet"
    out = []
    for text in dict.fromkeys(t for t, _, _ in seen):
        runs = [f"{n} ({d})" for t, d, n in seen if t == text]
        out.append(f"- {text}: {', '.join(runs)}")
    return "\n".join(out)


def _commands(results: Mapping[str, dict]) -> str:
    found = sorted({r.get("command", "") for r in results.values()} - {""})
    return "\n".join(f"    {c}" for c in found) if found else "    (none yet)"


def markdown_report(results: Mapping[str, dict], *, quick: bool = False) -> str:
    """The report: hyper-parameters, the aspirin and ethanol tables, commands and machine."""
    budget = sorted({r["training"]["budget_s"] for r in results.values()})
    budget_text = ", ".join(f"{b:.0f} s" for b in budget) if budget else "not run yet"
    return (
        "# Tensor-product families inside trained potentials (rMD17)\n\n"
        + (
            "**Quick smoke run: tiny models, seconds of training; not results.**\n\n"
            if quick
            else ""
        )
        + "Generated by `python experiments/families.py` (see its docstring and "
        "`docs/guide/families.md`). Energies in meV/atom, forces in meV/A, on every frame of the "
        "test file. Train step: median time of the training loop's jitted step (energy, forces, "
        "loss, gradient, AMSGrad and EMA update) on one fixed padded batch, after compilation; "
        "compile: its tracing, lowering and compilation; inference: energy and forces of one "
        "structure. Expressivity (one channel, the layer of the second interaction): "
        "conv: dimension of the reachable equivariant maps `x (x) Y(r) -> message` / "
        "parity-allowed paths; product: independent polynomials summed over degrees and output "
        f"irreps / all equivariant ones (CG). Wall-clock budget per run: {budget_text} "
        "(compilation included; the run stops at the end of the last epoch that fits).\n\n"
        "## Shared hyper-parameters\n\n" + _hyper_text(results, quick) + "\n\n"
        "## rMD17 aspirin\n\n" + aspirin_table(results) + "\n"
        "![force MAE against train-step time](families.png)\n\n"
        "## rMD17 ethanol, out of distribution (the best three aspirin runs, re-trained)\n\n"
        + ethanol_table(results)
        + "\nOOD files hold energies only: errors of the energy per atom, and of the energies "
        "relative to the lowest reference energy of the file (the profile of the scan).\n\n"
        "## Commands\n\n" + _commands(results) + "\n\n"
        "## Machine\n\n" + _machine_text(results) + "\n"
    )


def plot(results: Mapping[str, dict], path: Path) -> None:
    """Test force MAE against train-step time, one labelled point per aspirin run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = {"mace": "tab:blue", "nequip": "tab:orange"}
    labels = []
    for name in RUNS:
        r = results.get(name)
        mae = _metric(r, "forces_mae") if r else None
        if mae is None:
            continue
        x = 1000 * r["timings"]["train_step_s"]
        marker = "s" if RUNS[name][2] not in ("cg", None) else "o"
        ax.scatter(x, mae, color=colours[RUNS[name][0]], marker=marker, zorder=3)
        labels.append((name, x, mae))
    points = len(labels)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("train step (ms, median; log scale)")
    ax.set_ylabel("test force MAE (meV/A)")
    ax.set_title("rMD17 aspirin: accuracy against time at the same wall-clock budget")
    ax.grid(True, which="both", alpha=0.3)
    if points:
        handles = [
            Line2D([], [], color=colours["mace"], marker="o", ls="", label="MACE, CG product"),
            Line2D([], [], color=colours["mace"], marker="s", ls="", label="MACE, Gaunt product"),
            Line2D([], [], color=colours["nequip"], marker="o", ls="", label="NequIP"),
        ]
        ax.margins(x=0.15, y=0.12)
        _place_labels(fig, ax, labels)
        ax.legend(handles=handles, fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlim(1, 1000)
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _place_labels(fig, ax, labels: list[tuple[str, float, float]]) -> None:
    """Each point's name beside it, on the first side (right above, right below, left above,
    left below) where it overlaps no marker and no name placed before it (the first side when
    none is free)."""
    from matplotlib.transforms import Bbox

    sides = (((6, 5), "left"), ((6, -11), "left"), ((-6, 5), "right"), ((-6, -11), "right"))
    fig.tight_layout()  # the final axes, so that the boxes below are where they will be drawn
    renderer = fig.canvas.get_renderer()
    centres = [ax.transData.transform((x, y)) for _, x, y in labels]
    placed = [Bbox.from_bounds(cx - 5, cy - 5, 10, 10) for cx, cy in centres]  # the markers

    def annotate(label, side):
        name, x, y = label
        offset, align = side
        return ax.annotate(
            name, (x, y), textcoords="offset points", xytext=offset, fontsize=8, ha=align
        )

    def free(label, side) -> bool:
        text = annotate(label, side)
        box = text.get_window_extent(renderer)
        text.remove()
        return not any(box.overlaps(other) for other in placed)

    for label in labels:
        side = next((side for side in sides if free(label, side)), sides[0])
        placed.append(annotate(label, side).get_window_extent(renderer))


def update_docs_page(page: Path, report: str) -> bool:
    """Replace the block between the page's result markers by the report's tables."""
    if not page.is_file():
        return False
    text = page.read_text()
    if START not in text or END not in text:
        return False
    body = report.split("\n", 2)[2]  # without the report's title
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    page.write_text(f"{before}{START}\n{body.replace('## ', '### ')}{END}{after}")
    return True


def write_report(results_dir: Path, *, quick: bool) -> str:
    """Write the markdown and the figure (quick: into the quick results folder only)."""
    results = load_results(results_dir)
    report = markdown_report(results, quick=quick)
    md, png = (
        (results_dir / "families.md", results_dir / "families.png")
        if quick
        else (REPORT_MD, REPORT_PNG)
    )
    md.write_text(report)
    plot(results, png)
    if not quick:
        shutil.copyfile(png, DOCS_PNG)
        update_docs_page(DOCS_PAGE, report)
    print(f"wrote {md} and {png}")
    return report


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--budget-minutes", type=float, default=10.0)
    parser.add_argument("--runs", default=None, help="comma-separated run names (default: all)")
    parser.add_argument(
        "--ethanol",
        action="store_true",
        help="the best three runs on ethanol (with --runs: those of them it names)",
    )
    parser.add_argument("--only-report", action="store_true", help="rebuild tables and figure")
    parser.add_argument("--quick", action="store_true", help="2-minute smoke run of everything")
    parser.add_argument("--timed-steps", type=int, default=20, help="timed train steps per run")
    parser.add_argument("--results-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out_dir = args.results_dir or (QUICK_RESULTS if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python experiments/families.py " + " ".join(sys.argv[1:] if argv is None else argv)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"cores {affinity}; results in {out_dir}", flush=True)
    if not args.only_report:
        names = select_runs(args.runs)
        todo = pending_runs(names, out_dir)
        for name in names:
            if name not in todo:
                print(f"{name}: done ({result_path(out_dir, name)}), skipped")
        for name in todo:
            run_one(name, "aspirin", args, out_dir, command.strip())
        if args.ethanol or args.quick:
            count = QUICK["ethanol"] if args.quick else NUM_ETHANOL
            results = load_results(out_dir)
            best = best_runs(results, count)
            if len(best) < count:
                print(f"only {len(best)} aspirin runs are done: ethanol runs for {best}")
            best = best_runs(results, count, None if args.runs is None else names)
            for name in pending_runs(best, out_dir, "ethanol"):
                run_one(name, "ethanol", args, out_dir, command.strip())
    print(write_report(out_dir, quick=args.quick))


if __name__ == "__main__":
    main()
