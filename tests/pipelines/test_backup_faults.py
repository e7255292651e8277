"""Faults of the backup: a full disk mid-run, a corrupt backup on restart. Real files, a real tmpfs."""

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.helpers import all_runs, run_cli, train_command, wait_for_backup

EPOCHS = 6


def _weights(backup):
    """The weights file the latest metadata names (Keras' own layout: latest.weights.h5)."""
    try:
        return backup / json.loads((backup / "training_metadata.json").read_text())["weights"]
    except (ValueError, KeyError):
        return backup / "latest.weights.h5"


def _random_bytes(backup):
    path = _weights(backup)
    path.write_bytes(os.urandom(path.stat().st_size))


def _truncated(backup):
    path = _weights(backup)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbled_metadata(backup):
    (backup / "training_metadata.json").write_text('{"epoch": 2, "bat\x07ch": 0')


@pytest.mark.slow
def test_a_corrupt_backup_is_named_and_never_silently_replaced(mlflow_store, tmp_path):
    out = tmp_path / "out"
    command = train_command(f"train.epochs={EPOCHS}", "train.early_stopping_patience=null", f"output_dir={out}")
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_backup(first, out, min_epoch=2)
    (run_dir,) = out.iterdir()
    backup, pristine = run_dir / "backup", tmp_path / "pristine"
    shutil.copytree(backup, pristine)
    (run_before,) = all_runs(mlflow_store)

    for damage in (_random_bytes, _truncated, _garbled_metadata):
        damage(backup)
        rerun = run_cli(command)
        assert rerun.returncode == 1, (damage.__name__, rerun.stderr[-2000:])
        assert "Traceback" not in rerun.stderr
        line = rerun.stderr.strip().splitlines()[-1]
        assert line.startswith("error: backup"), (damage.__name__, line)
        assert "--resume-previous" in line
        assert "--restart" in line
        assert len(all_runs(mlflow_store)) == 1  # never a silent new run
        shutil.rmtree(backup)
        shutil.copytree(pristine, backup)

    _random_bytes(backup)
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    resumed = run_cli([*command, "--resume-previous"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert run_before.info.run_id in resumed.stdout  # the same MLflow run continues
    assert "epoch 1/" not in resumed.stderr
    assert [r.info.status for r in all_runs(mlflow_store)] == ["FINISHED"]

    shutil.copytree(damaged, backup)
    restarted = run_cli([*command, "--restart"])
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert f"epoch 1/{EPOCHS}: " in restarted.stderr
    assert len(all_runs(mlflow_store)) == 2  # a new run, because it was asked for


@pytest.mark.slow
def test_disk_full_is_one_line_and_the_rerun_resumes_from_the_last_good_backup(mlflow_store, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "out"
        # ~300k parameters: one snapshot (weights + Adam slots) is ~3.6 MB.
        command = train_command("train.epochs=12", "model.hidden_units=[512,512]", f"output_dir={out}")
        command.append("train.early_stopping_patience=null")
        first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_backup(first, out, min_epoch=2, kill=False)
        (run_dir,) = out.iterdir()
        filler = disk / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):  # the disk fills up, to the last byte
            f.write(b"\0" * shutil.disk_usage(disk).free)
        stderr = first.communicate(timeout=600)[1]
        assert first.returncode == 1, stderr[-3000:]
        assert "Traceback" not in stderr
        line = stderr.strip().splitlines()[-1]
        assert line.startswith("error: disk full:"), line
        assert str(out) in line
        assert " MB " in line  # the space needed
        from pipelines.training.resume.backup import verify

        good = verify(run_dir / "backup" / "training_metadata.json")  # the last backup is whole
        assert good.epoch >= 2
        assert not list((run_dir / "backup").glob(".tmp-*"))

        filler.unlink()
        second = run_cli(command)
        assert second.returncode == 0, second.stderr[-3000:]
        assert f"from epoch {good.epoch}" in second.stderr  # resumed, not started over
        assert [r.info.status for r in all_runs(mlflow_store)] == ["FINISHED"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
