"""The device check's CPU dry run: every stage of scripts/device-check.sh on tiny sizes."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_device_check_dry_run_on_the_cpu(tmp_path):
    out = tmp_path / "check"
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "device-check.sh"), "--cpu", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    stages = (out / "check.txt").read_text()
    assert proc.returncode == 0, stages + (out / "log.txt").read_text()[-3000:]
    assert [line.split()[:2] for line in stages.splitlines()] == [
        ["study", "ok"],
        ["report", "ok"],
        ["gpu-tests", "ok"],
        ["throughput", "ok"],
    ]
    rows = json.loads((out / "throughput.json").read_text())["rows"]
    training = [r for r in rows if "arch" in r]
    assert {(r["arch"], r["precision"]) for r in training} == {
        (arch, precision) for arch in ("hu2021-student", "lite0-student") for precision in ("fp32", "bf16")
    }
    assert all(r["images_per_s"] > 0 for r in training)
    pipeline = [r for r in rows if "pipeline" in r]
    assert [r["size"] for r in pipeline] == ["48x64", "96x128"] and all(r["worker_images_per_s"] > 0 for r in pipeline)
    study = json.loads((out / "study-gpu.json").read_text())
    assert (
        study["preset"]["name"] == "smoke"
        and len([r for r in study["runs"] if r["arch"] != "baseline"]) == 2 * 9
        and not study["not_trained"]
    )
    assert "skipped" in (out / "gpu-tests.txt").read_text() or "passed" in (out / "gpu-tests.txt").read_text()
    assert "torch" in (out / "env.txt").read_text()
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(("device-check.", "bench-train-"))
    ]  # work folders removed
