"""torchrun with two gloo processes on CPU, at tiny size."""

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

import litedepth
from litedepth.config import Config
from litedepth.synth.dataset import write_dataset


def test_torchrun_two_gloo_processes(tmp_path):
    data = tmp_path / "synth"
    write_dataset(data, 12, split="train", size=(48, 64), progress=False)
    out = tmp_path / "run"
    cfg = Config.from_dict(
        {
            "name": "ddp",
            "model": {"arch": "hu2021-student", "input_size": [48, 64]},
            "data": {"sources": [{"path": str(data), "kind": "nyu"}], "workers": 0},
            "train": {
                "epochs": 2,
                "batch_size": 3,
                "device": "cpu",
                "out_dir": str(out),
                "progress": False,
                "threads": 1,
            },
        }
    )
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "litedepth",
        "train",
        "--config",
        str(tmp_path / "cfg.yaml"),
    ]
    # A session of its own, so that a hung run's workers can be killed with it and never outlive the test.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not finish within 180 s")
    assert proc.returncode == 0, stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # one row per epoch (rank 0 writes), counting the images of both processes: 12 per epoch
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["images"] == 12 for r in rows)
    model = litedepth.load(out / "model.safetensors")
    assert model.arch == "hu2021-student"
    assert not list(out.glob(".*.tmp*"))  # no half-written files from a second writer
