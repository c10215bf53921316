"""Smoke tests of the training-step benchmark (benchmarks/model_step.py): its smallest
configuration end to end (two ethanol frames, 2 channels, lmax 1, correlation 2, two
interactions), and the cuequivariance-jax model (checked for equivariance, timed, its
``uniform_1d`` polynomials accepted by cue's kernel wrapper) where cuequivariance-jax imports."""

from __future__ import annotations

import json
import pathlib

import ase.io
import jax
import numpy as np
import pytest

from benchmarks import model_step as bench

DEFAULT_DATA = pathlib.Path(bench.__file__).resolve().parents[1] / "equitens/data/default"
SMALLEST = ["--batch", "2", "--channels", "2", "--lmax", "1", "--correlation", "2"]
SMALLEST += ["--interactions", "2", "--repeats", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """Two ethanol frames of the package's default data set (after its isolated atoms)."""
    frames = ase.io.read(DEFAULT_DATA / "ethanol_gfn2.xyz", index=":8")
    frames = [f for f in frames if len(f) > 1][:2]
    path = tmp_path_factory.mktemp("model_step") / "ethanol.xyz"
    ase.io.write(path, frames, format="extxyz")
    return str(path)


def _run(data: str, tmp_path, *extra: str) -> dict:
    out = tmp_path / "model_step.json"
    result = bench.main(["--data", data, *SMALLEST, *extra, "--out", str(out)])
    document = json.loads(out.read_text())
    assert result["json"] == str(out) and document["records"] == result["records"]
    return document


def test_equitens_and_e3nn_steps_are_timed_with_ratio_compile_time_and_memory(data, tmp_path):
    document = _run(data, tmp_path, "--models", "equitens,e3nn")
    by = {r["model"]: r for r in document["records"]}
    assert set(by) == {"equitens", "e3nn"}
    for r in by.values():
        assert r["status"] == "ok" and r["num_params"] > 1000
        assert r["median_ms"] > 0 and r["compile_s"] > 0
        assert "peak_bytes" in r  # None where the backend does not report memory
    assert by["equitens"]["equitens_ratio"] == 1.0
    ratio = by["equitens"]["median_ms"] / by["e3nn"]["median_ms"]
    assert by["e3nn"]["equitens_ratio"] == pytest.approx(ratio)
    assert document["meta"]["ratios"] == {"equitens/e3nn": pytest.approx(ratio)}
    assert (document["meta"]["nodes"], document["meta"]["num_channels"]) == (18, 2)


def test_cue_is_skipped_with_its_reason_when_it_does_not_import(data, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "cue_import_error", lambda: "ImportError: no cue here")
    document = _run(data, tmp_path, "--models", "cue")
    (record,) = document["records"]
    assert record == {"model": "cue", "status": "skipped: ImportError: no cue here"}
    assert document["meta"]["skipped"] == {"cue": "ImportError: no cue here"}
    assert document["meta"]["ratios"] == {}


def test_unknown_models_are_refused(data):
    with pytest.raises(SystemExit):
        bench.main(["--data", data, "--models", "equitens,torch"])


def test_the_cue_model_is_checked_for_equivariance_then_timed(data, tmp_path):
    pytest.importorskip("cuequivariance_jax")
    extra = ["--models", "equitens,cue", "--cue-method", "naive", "--check-frames", "1"]
    document = _run(data, tmp_path, *extra)
    by = {r["model"]: r for r in document["records"]}
    cue = by["cue"]
    assert cue["status"] == "ok" and cue["cue_method"] == "naive", cue
    assert cue["check"]["ok"] and cue["check"]["energy_err"] < bench.CHECK_TOL
    assert cue["check"]["force_err"] < bench.CHECK_TOL
    assert cue["median_ms"] > 0 and cue["compile_s"] > 0
    # the same order of parameters as the others (the radial MLPs dominate at this size)
    assert 0.5 < cue["num_params"] / by["equitens"]["num_params"] < 2
    ratio = by["equitens"]["median_ms"] / cue["median_ms"]
    assert document["meta"]["ratios"] == {"equitens/cue": pytest.approx(ratio)}


def _cue_model(data: str, method: str):
    from equitens.data import SpeciesTable, read_extxyz

    configs = read_extxyz(data)
    table = SpeciesTable.from_configurations(configs)
    model = bench.CueMACE(
        len(table), (0.0,) * len(table), 5.0, num_channels=2, lmax=1, correlation=2,
        radial_mlp=(8,), avg_num_neighbors=8.0, method=method,
    )  # fmt: skip
    return model, configs, table


def test_the_indexed_code_path_of_uniform_1d_is_equivariant_and_equals_naive(data):
    """``naive_indexed`` runs ``uniform_1d``'s code path (gather, scatter and per-species weights
    through cue's indexing) with the pure-JAX method: on any platform."""
    pytest.importorskip("cuequivariance_jax")
    model, configs, table = _cue_model(data, "naive_indexed")
    check = bench.rotation_check(model, configs, table, 5.0)
    assert check["ok"], check
    batch, _, _ = bench._batch(configs, table, 5.0, np.float32)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
    naive, _, _ = _cue_model(data, "naive")
    energies = [jax.jit(m.apply)(params, batch) for m in (model, naive)]
    np.testing.assert_allclose(energies[0], energies[1], rtol=1e-5)


def test_every_uniform_1d_polynomial_of_a_training_step_is_accepted_by_cues_wrapper(data):
    """Without a GPU: every ``segmented_polynomial`` of a traced training step with
    ``method="uniform_1d"`` (forward, JVPs, transposes) passes the checks cue's ``uniform_1d``
    wrapper makes before it calls the CUDA kernel (one mode, uniform segments, ...)."""
    pytest.importorskip("cuequivariance_jax")
    try:
        from cuequivariance_jax.segmented_polynomials.segmented_polynomial import (
            segmented_polynomial_p,
        )
        from cuequivariance_jax.segmented_polynomials.segmented_polynomial_uniform_1d import (
            execute_uniform_1d,
        )
    except ImportError as error:  # internal modules of cuequivariance-jax 0.13
        pytest.skip(f"cuequivariance-jax internals moved: {error}")
    import importlib.util

    if importlib.util.find_spec("cuequivariance_ops_jax") is not None:
        pytest.skip("the kernels are installed: this check would run them")
    import jax.numpy as jnp
    import optax

    model, configs, table = _cue_model(data, "uniform_1d")
    batch, _, _ = bench._batch(configs, table, 5.0, np.float32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)  # traced, never run
    optimizer = optax.adam(1e-3)
    opt_state = jax.eval_shape(optimizer.init, params)
    step = bench.train_step_fn(model, lambda m, p, g: bench._e3nn_predict(m, p, g), optimizer)
    jaxpr = jax.make_jaxpr(step)(params, opt_state, batch).jaxpr

    def equations(jp):
        for eq in jp.eqns:
            if eq.primitive is segmented_polynomial_p:
                yield eq
            for value in eq.params.values():
                for sub in value if isinstance(value, list | tuple) else [value]:
                    inner = getattr(sub, "jaxpr", sub)
                    inner = getattr(inner, "jaxpr", inner)
                    if hasattr(inner, "eqns"):
                        yield from equations(inner)

    kernels = 0
    for eq in equations(jaxpr):
        p = eq.params
        if p["method"] != "uniform_1d":
            continue
        kernels += 1
        num_inputs = len(p["index_configuration"]) - len(p["outputs_shape_dtype"])
        arrays = [jnp.zeros(v.aval.shape, v.aval.dtype) for v in eq.invars]
        poly = p["polynomial"]
        try:
            poly = poly.unsymmetrize_for_identical_operands()  # as cue's dispatch does
        except NotImplementedError:
            pass
        with pytest.raises(ValueError, match="cuequivariance_ops_jax is not installed"):
            execute_uniform_1d(
                arrays[:num_inputs],
                p["outputs_shape_dtype"],
                arrays[num_inputs:],
                p["index_configuration"],
                poly,
                dict(p["options"]),
                p["name"],
            )
    # two interactions x (convolution + product basis), each forward, JVP and transposes
    assert kernels >= 8
