"""One command per output folder: a folder in use by a live process is refused, one of a killed process is not.

The lock is held by a real second process (`litedepth.outputs.lock_folder` in ``python -c``), as a
running ``litedepth train`` holds its run folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import litedepth
from conftest import write_image
from litedepth.cli import main
from litedepth.outputs import LOCK, read_marker
from litedepth.synth.dataset import write_dataset
from test_output_guard import SIZE, TINY_TRAIN, run_cli, snapshot

HOLD = (
    "import sys, time\n"
    "from litedepth.outputs import lock_folder\n"
    "lock_folder(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "time.sleep(300)\n"
)


@pytest.fixture
def hold():
    """``hold(folder)``: a live process that holds ``folder``'s lock (killed at the end of the test)."""
    procs = []

    def start(folder: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lock")
    write_dataset(root / "data", 4, split="train", size=SIZE, progress=False)
    write_dataset(root / "data", 1, split="test", size=SIZE, progress=False)
    write_image(root / "photos" / "a.jpg", seed=1)
    litedepth.save_model(litedepth.create_model("fast-student", input_size=SIZE), root / "model.safetensors")
    return root


def commands(inputs: Path, folder: Path) -> dict[str, list]:
    model, data = inputs / "model.safetensors", inputs / "data"
    train = ["--config", "synth-teacher", "--set", f"data.sources.0.path={data}", *TINY_TRAIN]
    return {
        "train": ["train", *train, "--set", f"train.out_dir={folder}"],
        "train --overwrite": ["train", *train, "--set", f"train.out_dir={folder}", "--overwrite"],
        "train --resume": ["train", *train, "--set", f"train.out_dir={folder}", "--resume"],
        "predict": ["predict", inputs / "photos", "--model", model, "--out", folder],
        "predict --overwrite": ["predict", inputs / "photos", "--model", model, "--out", folder, "--overwrite"],
        "eval --save-predictions": ["eval", "--model", model, "--data", data, "--save-predictions", folder],
        "synth --overwrite": ["synth", "--out", folder, "--n", 1, "--size", "48x64", "--quiet", "--overwrite"],
        "reproduce": ["reproduce", "--preset", "smoke", "--out", folder],
    }


@pytest.mark.parametrize("command", list(commands(Path("/in"), Path("/out"))))
def test_a_folder_in_use_is_refused_naming_its_process(inputs, tmp_path, hold, capsys, command):
    folder = tmp_path / "busy"
    holder = hold(folder)
    before = snapshot(tmp_path)
    assert list(before) == [f"busy/{LOCK}"]
    code, _, err = run_cli(capsys, commands(inputs, folder)[command])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"in use by process {holder.pid} (-c " in err and str(folder) in err, err
    assert snapshot(tmp_path) == before


def test_a_run_in_progress_is_refused_rather_than_called_unfinished(inputs, tmp_path, hold, capsys):
    """A run folder marked "training" by a live run: the second train is told who is running, not to --resume."""
    folder = tmp_path / "run"
    assert main([str(a) for a in commands(inputs, folder)["train"]]) == 0
    (folder / ".litedepth.json").write_text('{"kind": "run", "state": "training"}\n')
    holder = hold(folder)
    for command in ("train", "train --overwrite", "train --resume"):
        code, _, err = run_cli(capsys, commands(inputs, folder)[command])
        assert code == 2 and f"in use by process {holder.pid}" in err and "unfinished" not in err, (command, err)


def test_the_lock_of_a_killed_process_never_blocks(inputs, tmp_path, hold, capsys):
    folder = tmp_path / "depth"
    holder = hold(folder)
    code, _, err = run_cli(capsys, commands(inputs, folder)["predict"])
    assert code == 2 and f"process {holder.pid}" in err
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (folder / LOCK).is_file()  # left behind by the killed process: no longer locked
    code, _, err = run_cli(capsys, commands(inputs, folder)["predict"])
    assert code == 0, err
    assert (folder / "a.png").is_file() and read_marker(folder) == {"kind": "predict"}
    assert not (folder / LOCK).exists()  # taken over, then removed when the command ended
    code, _, err = run_cli(capsys, commands(inputs, folder)["predict --overwrite"])
    assert code == 0 and sorted(p.name for p in folder.iterdir()) == [".litedepth.json", "a.png"], err


def test_a_command_that_ends_frees_its_folder(inputs, tmp_path):
    """Run after run into one folder, in one process: each command's lock ends with it, no file left behind."""
    folder = tmp_path / "run"
    argv = [str(a) for a in commands(inputs, folder)["train"]]
    assert main(argv) == 0 and not (folder / LOCK).exists()
    assert main([*argv, "--set", "train.epochs=2", "--resume"]) == 0 and not (folder / LOCK).exists()
    assert read_marker(folder) == {"kind": "run", "state": "finished"}
