"""``experiments/families.py`` without training: run lists, resuming, configurations and the
report (tables, figure, docs block) built from fake result JSON."""

from __future__ import annotations

import json

import pytest

from experiments import families as F


def fake_result(name: str, forces_mae: float, step_s: float = 0.1, dataset="aspirin") -> dict:
    model, conv, product = F.RUNS[name]
    errors = {
        "energy_per_atom_mae": 0.5,
        "energy_per_atom_rmse": 0.7,
        "forces_mae": forces_mae,
        "forces_rmse": 1.3 * forces_mae,
    }
    ood = {}
    if dataset == "ethanol":
        ood = {
            key: {"energy_per_atom_mae": 9.0, "relative_energy_mae": 42.0, "file": path}
            for key, path in F.DATASETS["ethanol"]["ood"].items()
        }
    return {
        "name": name,
        "dataset": dataset,
        "model": model,
        "conv_method": conv,
        "product_method": product,
        "quick": False,
        "training": {"budget_s": 600, "train_time_s": 590.0, "epochs": 7, "steps": 1330},
        "frames": {"train": 950, "valid": 50, "test": 1800},
        "errors": {"test": errors},
        "ood": ood,
        "timings": {
            "train_step_s": step_s,
            "compile_s": 30.0,
            "inference_s": 0.02,
            "num_parameters": 1234,
        },
        "expressivity": {
            "conv": {"dimension": 8, "bound": 10},
            "product": {"dimension": 26, "bound": 29} if product else None,
        },
        "machine": {"cpu": "Test CPU", "cpu_count": 2, "affinity": [1], "jax": "0.0"},
        "command": "python experiments/families.py",
    }


def write(tmp_path, results: dict) -> None:
    for key, record in results.items():
        (tmp_path / f"{key}.json").write_text(json.dumps(record))


def test_select_runs_keeps_the_table_order_and_rejects_unknown_names():
    assert F.select_runs(None) == list(F.RUNS)
    assert len(F.RUNS) == 8
    assert F.select_runs(" nequip-so2, mace-cg ") == ["mace-cg", "nequip-so2"]
    with pytest.raises(ValueError, match="unknown run"):
        F.select_runs("mace-cg,mace-e3nn")


def test_runs_with_a_json_are_skipped(tmp_path):
    write(tmp_path, {"mace-cg": fake_result("mace-cg", 30.0)})
    (tmp_path / "ethanol-nequip-cg.json").write_text("{}")
    names = ["mace-cg", "mace-conv-so2", "nequip-cg"]
    assert F.pending_runs(names, tmp_path) == ["mace-conv-so2", "nequip-cg"]
    assert F.pending_runs(names, tmp_path, "ethanol") == ["mace-cg", "mace-conv-so2"]
    assert F.result_path(tmp_path, "mace-cg", "ethanol").name == "ethanol-mace-cg.json"


def test_load_results_skips_broken_files_and_best_runs_ranks_by_force_mae(tmp_path):
    maes = {"mace-cg": 30.0, "mace-conv-cp": 50.0, "nequip-so2": 20.0, "mace-prod-gaunt_grid": 25}
    write(tmp_path, {n: fake_result(n, m) for n, m in maes.items()})
    write(tmp_path, {"ethanol-mace-cg": fake_result("mace-cg", 1.0, dataset="ethanol")})
    (tmp_path / "broken.json").write_text("{not json")
    results = F.load_results(tmp_path)
    assert "broken" not in results and len(results) == 5
    assert F.best_runs(results) == ["nequip-so2", "mace-prod-gaunt_grid", "mace-cg"]
    assert F.best_runs(results, 1) == ["nequip-so2"]
    among = ["mace-cg", "mace-conv-cp", "nequip-so2"]  # --ethanol --runs: those of the best three
    assert F.best_runs(results, among=among) == ["nequip-so2", "mace-cg"]


def test_count_frames_and_run_config(tmp_path):
    frame = '2\nenergy=-1.0 pbc="F F F"\nH 0 0 0 0 0 0\nH 0 0 0.7 0 0 0\n'
    (tmp_path / "aspirin").mkdir()
    train = tmp_path / "aspirin" / "rmd17_aspirin_train.xyz"
    train.write_text(frame * 40)
    assert F.count_frames(train) == 40
    config = F.run_config(
        "mace-prod-gaunt_grid", "aspirin", tmp_path, tmp_path / "out", quick=True, max_time=7
    )
    assert config["model"]["product_method"] == "gaunt_grid"
    assert config["model"]["conv_method"] == "cg"
    assert config["data"]["valid_fraction"] == pytest.approx(F.QUICK["valid"] / 40)
    assert config["data"]["max_train_frames"] == F.QUICK["train"]
    assert config["training"]["max_time"] == 7
    assert config["output_dir"] == str(tmp_path / "out" / "runs")
    nequip = F.run_config("nequip-so2", "aspirin", tmp_path, tmp_path, quick=True, max_time=1)
    assert "product_method" not in nequip["model"]
    with pytest.raises(ValueError, match="fewer than"):
        F.run_config("mace-cg", "aspirin", tmp_path, tmp_path, quick=False, max_time=1)


def test_report_has_a_row_per_run_and_says_not_run_yet(tmp_path):
    write(tmp_path, {"mace-cg": fake_result("mace-cg", 31.25, step_s=0.5)})
    write(tmp_path, {"nequip-cg": fake_result("nequip-cg", 40.0)})
    report = F.markdown_report(F.load_results(tmp_path))
    rows = [
        line
        for line in report.splitlines()
        if line.startswith("| mace-") or line.startswith("| nequip-")
    ]
    assert len(rows) == 8
    assert rows[0].startswith(
        "| mace-cg | mace | cg | cg | 0.50 | 0.70 | 31.2 | 40.6 | 500.0 | 30.0 | 20.00 | 1234 |"
    )
    assert "8 / 10 | 26 / 29 | 7 | 1330 | 590 |" in rows[0]
    assert "| nequip-cg | nequip | cg | n/a |" in report and "| 8 / 10 | n/a |" in report
    assert sum("not run yet" in row for row in rows) == 6
    assert "Not run yet (`--ethanol`" in report
    assert "Test CPU, 2 cores, affinity [1]" in report
    assert "    python experiments/families.py" in report


def test_ethanol_table_lists_the_ood_errors(tmp_path):
    write(tmp_path, {"ethanol-mace-cg": fake_result("mace-cg", 12.0, dataset="ethanol")})
    table = F.ethanol_table(F.load_results(tmp_path))
    header, _, row = table.splitlines()
    assert header.count("|") == row.count("|")
    assert "H_removal relative E MAE (meV)" in header
    assert row.startswith("| mace-cg | 0.50 | 12.0 | 9.00 | 42.0 |")


def test_write_report_quick_writes_markdown_and_figure_in_the_results_folder(tmp_path):
    write(tmp_path, {"mace-cg": fake_result("mace-cg", 31.0)})
    report = F.write_report(tmp_path, quick=True)
    assert "Quick smoke run" in report
    assert (tmp_path / "families.md").read_text() == report
    assert (tmp_path / "families.png").stat().st_size > 1000


def test_main_only_report_builds_from_existing_json(tmp_path, capsys):
    write(tmp_path, {"nequip-so2": fake_result("nequip-so2", 22.0)})
    F.main(["--only-report", "--quick", "--results-dir", str(tmp_path)])
    assert "| nequip-so2 | nequip | so2 | n/a | 0.50 |" in (tmp_path / "families.md").read_text()
    assert not any((tmp_path / "runs").glob("*"))


def test_update_docs_page_replaces_the_block_between_the_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n\n{F.START}\nold\n{F.END}\n\nafter\n")
    assert F.update_docs_page(page, "# Title\n\n## Section\n\ntable\n")
    assert page.read_text() == f"intro\n\n{F.START}\n### Section\n\ntable\n{F.END}\n\nafter\n"
    plain = tmp_path / "plain.md"
    plain.write_text("no markers")
    assert not F.update_docs_page(plain, "# Title\n\nx\n")
