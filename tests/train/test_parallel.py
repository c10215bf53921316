"""Data-parallel training (:mod:`equitens.train.parallel`).

The numbers are checked in a subprocess with two CPU devices (``_parallel_check.py``): one
data-parallel step of a real MACE equals the average of two single-device SGD steps, in float64,
and ``train`` runs end to end over two devices. The errors run here, on this process's one device.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from equitens.train import load_config, train
from equitens.train.parallel import device_groups, local_devices

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_two_devices_average_the_gradients_of_their_batches(tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/train/_parallel_check.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "data parallel over 2 cpu devices: 4 graphs per device, 8 per step" in done.stdout
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2
    assert report["moved"] > 1e-4  # the step did something
    assert report["param_error"] < 1e-12  # ... and it is the mean of the two batches' steps
    assert report["loss_error"] < 1e-12
    assert report["param_devices"] == 2  # the parameters live on both devices
    # 24 training frames and the 3 isolated atoms in batches of 4: 7 batches, 3 steps an epoch
    assert (report["epochs"], report["steps"]) == (2, 6)
    assert report["resumed_steps"] == 9
    assert report["resume_error"] < 1e-12  # resumed: the parameters of an uninterrupted run
    assert np.isfinite(report["forces_mae"])
    checkpoints = pathlib.Path(report["run_dir"]) / "checkpoints"
    assert (checkpoints / "best.ckpt").is_file() and (checkpoints / "latest.ckpt").is_file()


def test_more_devices_than_there_are_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="training.devices=2 but this process has 1 cpu"):
        local_devices(2)
    overrides = ["training.devices=3", f"output_dir={tmp_path}", "data.max_train_frames=20"]
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        train(load_config(overrides=overrides))
    with pytest.raises(ValueError, match="'training.devices' must be a positive number"):
        load_config(overrides=["training.devices=0"])


def test_groups_are_consecutive_batches_of_one_size():
    batches = [{"x": np.full((n,), k)} for k, n in enumerate([3, 4, 3, 3, 4, 4, 3])]
    groups = list(device_groups(batches, 2))
    assert [g["x"][:, 0].tolist() for g in groups] == [[0, 2], [1, 4], [3, 6]]
    assert all(g["x"].shape[0] == 2 for g in groups)  # batch 5 (size 4) is left over
