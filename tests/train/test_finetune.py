"""Fine-tuning (``training.init_from``) with stand-in data and model: the start parameters, the
species re-indexing, the atomic energies and the errors. The real MACE case is in
``test_cli.py`` (it shares the trained run there)."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import numpy as np
import pytest

from equitens.train import load_checkpoint, read_metrics, train
from equitens.train.datasets import Datasets

from . import _standins as S


class _NoTrainingSteps(S.Loader):
    """The stand-in loader, but a shuffled (training) pass yields no batch: the run then only
    evaluates the parameters it starts from."""

    def __iter__(self):
        return iter(()) if self.shuffle else super().__iter__()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A stand-in run of 3 epochs on molecules of H and O (species table (1, 8))."""
    out = tmp_path_factory.mktemp("base")
    train(S.tiny_config(out, name="base", training={"epochs": 3}), **S.factories(S.datasets()))
    return out / "base"


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _oxygen_only(data: Datasets) -> Datasets:
    """The molecules relabelled as oxygen only, indexed by their own table (8,): index 0."""

    def relabel(graphs):
        out = []
        for g in graphs:
            positions = np.asarray(g.nodes["positions"])
            species = np.ones(len(positions), np.int32)  # O in the (1, 8) table
            energy, forces = S.reference_labels(positions, species, 4.0)
            graph = S.make_graph(positions, species, 4.0, energy, forces)
            out.append(graph._replace(nodes={**graph.nodes, "species": species * 0}))
        return out

    return Datasets(
        relabel(data.train),
        relabel(data.valid),
        relabel(data.test),
        SimpleNamespace(atomic_numbers=(8,)),
        np.array([-7.5]),
    )


def test_starts_from_the_checkpoint_parameters_and_keeps_its_species(tmp_path, base):
    data = _oxygen_only(S.datasets(seed=1))
    config = S.tiny_config(tmp_path, name="tuned", training={"epochs": 1, "init_from": str(base)})
    factories = {**S.factories(data), "make_loader": _NoTrainingSteps}
    train(config, **factories)

    best = load_checkpoint(base)
    tuned = load_checkpoint(tmp_path / "tuned", "latest")
    for key in ("params", "train_params", "ema_params"):
        for x, y in zip(_leaves(best["params"]), _leaves(tuned[key]), strict=True):
            np.testing.assert_array_equal(x, y)
    assert tuned["atomic_numbers"] == (1, 8)  # the checkpoint's table, not the data's (8,)
    np.testing.assert_array_equal(tuned["atomic_energies"], S.E0)  # "checkpoint" E0s
    assert tuned["step"] == 0

    # the O atoms were re-indexed into the checkpoint's table: the errors are those of the base
    # model on the same molecules indexed by the (1, 8) table
    def by_base_table(graphs):
        return [g._replace(nodes={**g.nodes, "species": g.nodes["species"] + 1}) for g in graphs]

    as_base = Datasets(
        by_base_table(data.train),
        by_base_table(data.valid),
        by_base_table(data.test),
        SimpleNamespace(atomic_numbers=(1, 8)),
        S.E0,
    )
    train(
        S.tiny_config(tmp_path, name="same", training={"epochs": 1, "init_from": str(base)}),
        **{**S.factories(as_base), "make_loader": _NoTrainingSteps},
    )
    a = read_metrics(tmp_path / "tuned" / "metrics.csv")[0]
    b = read_metrics(tmp_path / "same" / "metrics.csv")[0]
    assert a["valid_loss"] == b["valid_loss"] and a["valid_forces_mae"] == b["valid_forces_mae"]
    assert a["valid_loss"] > 0


def test_data_atomic_energies_replace_the_checkpoints_for_the_elements_the_data_has(tmp_path, base):
    data = _oxygen_only(S.datasets(seed=2))
    config = S.tiny_config(
        tmp_path,
        name="tuned",
        training={"epochs": 1, "init_from": str(base), "init_atomic_energies": "data"},
    )
    train(config, **{**S.factories(data), "make_loader": _NoTrainingSteps})
    tuned = load_checkpoint(tmp_path / "tuned", "latest")
    np.testing.assert_array_equal(tuned["atomic_energies"], [S.E0[0], -7.5])


def test_fine_tuning_lowers_the_loss_on_the_new_data(tmp_path, base):
    data = S.datasets(seed=3)
    config = S.tiny_config(tmp_path, name="tuned", training={"epochs": 2, "init_from": str(base)})
    train(config, **S.factories(data))
    rows = read_metrics(tmp_path / "tuned" / "metrics.csv")
    assert rows[-1]["step"] == 2 * 3
    fresh = S.tiny_config(tmp_path, name="fresh", training={"epochs": 2})
    train(fresh, **S.factories(data))
    fresh_rows = read_metrics(tmp_path / "fresh" / "metrics.csv")
    # the pretrained start is far ahead of a fresh one after the same two epochs
    assert rows[-1]["valid_loss"] < 0.5 * fresh_rows[-1]["valid_loss"]


def test_an_element_the_checkpoint_does_not_know_is_refused(tmp_path, base):
    data = S.datasets()
    data = Datasets(data.train, data.valid, data.test, SimpleNamespace(atomic_numbers=(1, 7)), S.E0)
    config = S.tiny_config(tmp_path, training={"init_from": str(base)})
    with pytest.raises(ValueError, match=r"N \(Z=7\), which the checkpoint's model does not know"):
        train(config, **S.factories(data))
    assert not (tmp_path / "run").exists()

    # an element that no frame has (only an isolated-atom frame gave it an E0) is left out
    def skip_index_1(graphs):  # H stays 0, O becomes 2: N (index 1) is unused
        return [g._replace(nodes={**g.nodes, "species": 2 * g.nodes["species"]}) for g in graphs]

    data = Datasets(
        *(skip_index_1(graphs) for graphs in (data.train, data.valid, data.test)),
        SimpleNamespace(atomic_numbers=(1, 7, 8)),
        np.array([-1.0, -5.0, -3.0]),
    )
    train(config, **{**S.factories(data), "make_loader": _NoTrainingSteps})
    assert load_checkpoint(tmp_path / "run")["atomic_numbers"] == (1, 8)


def test_a_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path, base):
    config = S.tiny_config(tmp_path, training={"init_from": str(tmp_path / "nothing")})
    with pytest.raises(ValueError, match="no checkpoint found"):
        train(config, **S.factories())
    from equitens.train import save_checkpoint

    save_checkpoint(tmp_path / "weights.ckpt", {"params": {"w": np.zeros(2)}})
    config = S.tiny_config(tmp_path, training={"init_from": str(tmp_path / "weights.ckpt")})
    with pytest.raises(ValueError, match="is not a checkpoint of a training run"):
        train(config, **S.factories())


def test_a_fine_tuning_run_resumes_exactly(tmp_path, base):
    data = S.datasets(seed=4)
    sections = {"training": {"epochs": 3, "init_from": str(base)}}
    train(S.tiny_config(tmp_path, name="straight", **sections), **S.factories(data))
    short = {"training": {"epochs": 1, "init_from": str(base)}}
    train(S.tiny_config(tmp_path, name="resumed", **short), **S.factories(data))
    train(
        S.tiny_config(tmp_path, name="resumed", resume=True, training={"epochs": 3}),
        **S.factories(data),
    )
    a = load_checkpoint(tmp_path / "straight", "latest")
    b = load_checkpoint(tmp_path / "resumed", "latest")
    for x, y in zip(_leaves(a["train_params"]), _leaves(b["train_params"]), strict=True):
        np.testing.assert_array_equal(x, y)
    assert b["config"]["training"]["init_from"] == str(base)


def test_frozen_parameters_keep_the_checkpoint_values(tmp_path, base, capsys):
    data = S.datasets(seed=5)
    config = S.tiny_config(
        tmp_path,
        name="tuned",
        training={"epochs": 2, "init_from": str(base)},
        optimizer={"freeze": ["a"]},
    )
    train(config, **S.factories(data))
    assert "frozen (optimizer.freeze=[a]): 2 of 3 parameters, in a" in capsys.readouterr().out
    start = load_checkpoint(base)["params"]["params"]
    tuned = load_checkpoint(tmp_path / "tuned", "latest")
    for key in ("params", "train_params", "ema_params"):
        np.testing.assert_array_equal(tuned[key]["params"]["a"], start["a"])
        assert tuned[key]["params"]["b"] != start["b"]
    assert tuned["step"] == 6

    bad = S.tiny_config(tmp_path, name="bad", optimizer={"freeze": ["c"]})
    with pytest.raises(ValueError, match="'c' matches no parameter of the model"):
        train(bad, **S.factories(data))
    assert not (tmp_path / "bad").exists()


def test_data_of_another_level_of_theory_is_pointed_out(tmp_path, base, capsys):
    def offset(graphs, per_atom):  # total energies with another zero: +50 eV per atom
        return [
            g._replace(globals={**g.globals, "energy": g.globals["energy"] + per_atom * g.n_node})
            for g in graphs
        ]

    data = S.datasets(seed=6)
    shifted = Datasets(
        *(offset(graphs, 50.0) for graphs in (data.train, data.valid, data.test)),
        data.species,
        data.atomic_energies,
    )
    factories = {**S.factories(shifted), "make_loader": _NoTrainingSteps}
    init = {"epochs": 1, "init_from": str(base)}
    train(S.tiny_config(tmp_path, name="a", training=init), **factories)
    out = capsys.readouterr().out
    assert "warning: the training energies lie +50.1 eV/atom from what the model's" in out
    assert "set training.init_atomic_energies=data" in out

    train(S.tiny_config(tmp_path, name="b", training=init), **S.factories(data))
    assert "warning" not in capsys.readouterr().out
