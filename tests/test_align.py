"""``eval --align``: per-image median and least-squares alignment, against hand computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from litedepth.checkpoint import save_model
from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.evaluation.align import align
from litedepth.evaluation.loop import evaluate
from litedepth.models import create_model
from test_eval import RampNet, write_nyu_test


def _tiny_set(tmp_path, n=3):
    """``n`` 240x320 pairs (no resize under hu2021 for a 228x304 network: the crop is rows 6:234, cols 8:312)."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(n)]
    depths = []
    for i in range(n):
        d = rng.integers(800 + 500 * i, 4000 + 900 * i, (240, 320)).astype(np.uint16)
        d[rng.random((240, 320)) < 0.1] = 0
        depths.append(d)
    write_nyu_test(tmp_path, images, depths)
    return [d[6:234, 8:312].astype(np.float64) / 1000 for d in depths]


def test_median_alignment_equals_a_hand_computation(tmp_path):
    gts = _tiny_set(tmp_path)
    model = RampNet(0.5, 2.0)
    result = evaluate(model, tmp_path, protocol="hu2021", align="median", progress=False)
    ramp = np.broadcast_to(np.linspace(0.5, 2.0, 304, dtype=np.float32).astype(np.float64), (228, 304))
    rows = []
    for gt in gts:
        valid = gt > 0
        pred = ramp * (np.median(gt[valid]) / np.median(ramp[valid]))
        o, t = pred[valid], gt[valid]
        ratio = np.maximum(o / t, t / o)
        rows.append(
            {
                "rmse": np.sqrt(np.mean((o - t) ** 2)),
                "abs_rel": np.mean(np.abs(o - t) / t),
                "delta1": np.mean(ratio <= 1.25),
                "delta2": np.mean(ratio <= 1.25**2),
            }
        )
    for key in ("rmse", "abs_rel", "delta1", "delta2"):
        assert result.metrics[key] == pytest.approx(np.mean([r[key] for r in rows]), rel=1e-5)
    plain = evaluate(model, tmp_path, protocol="hu2021", progress=False)
    assert plain.metrics["rmse"] > result.metrics["rmse"] * 1.2  # the ramp's scale is off: aligning helps
    assert result.to_json()["align"] == "median" and plain.to_json()["align"] == "none"
    assert any("median scaling" in note for note in result.notes)


def test_lstsq_recovers_scale_and_shift_in_depth_and_disparity():
    gen = torch.Generator().manual_seed(0)
    gt = 1.0 + 4.0 * torch.rand(2, 1, 20, 30, generator=gen)
    mask = torch.rand(2, 1, 20, 30, generator=gen) > 0.2
    depth_pred = (gt - 0.3) / 2.5  # gt = 2.5 * pred + 0.3
    aligned, fits = align(depth_pred, gt, mask, "lstsq", "depth")
    assert fits[0] == pytest.approx((2.5, 0.3), rel=1e-4)
    torch.testing.assert_close(aligned, gt, rtol=1e-5, atol=1e-5)
    disparity_pred = 1.0 / ((1.0 / gt - 0.05) / 3.0)  # 1/gt = 3 * (1/pred) + 0.05
    aligned, fits = align(disparity_pred, gt, mask, "lstsq", "disparity")
    assert fits[1] == pytest.approx((3.0, 0.05), rel=1e-4)
    torch.testing.assert_close(aligned, gt, rtol=1e-4, atol=1e-4)
    same, _ = align(depth_pred, gt, mask, "none")
    assert same is depth_pred


def test_disparity_alignment_clamps_at_the_depth_cap():
    gt = torch.tensor([[[[1.0, 2.0, 4.0, 8.0]]]])
    pred = torch.tensor([[[[1.0, 2.0, 4.0, -1.0]]]])  # a negative prediction: no disparity, capped
    mask = torch.ones_like(gt, dtype=torch.bool)
    aligned, _ = align(pred, gt, mask, "lstsq", "disparity", max_depth=10.0)
    assert float(aligned[0, 0, 0, 3]) == pytest.approx(10.0)


def test_cli_eval_align_recorded_in_json(tmp_path, capsys):
    _tiny_set(tmp_path / "data", n=2)
    ckpt = save_model(create_model("fast-student", input_size=(228, 304)), tmp_path / "m.safetensors")
    for mode, extra in (("none", []), ("median", []), ("lstsq", ["--align-space", "disparity"])):
        out = tmp_path / f"{mode}.json"
        argv = ["eval", "--model", str(ckpt), "--data", str(tmp_path / "data"), "--json", str(out), "--no-progress"]
        assert main([*argv, "--align", mode, *extra]) == 0
        saved = json.loads(out.read_text())
        assert saved["align"] == mode and saved["n_images"] == 2
        assert saved.get("align_space") == ("disparity" if mode == "lstsq" else None)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown mode on one line
        main(["eval", "--model", str(ckpt), "--data", str(tmp_path / "data"), "--align", "mean"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--align: invalid choice: 'mean'" in err[0]
    with pytest.raises(LitedepthError, match="--align 'mean'"):
        evaluate(RampNet(1, 2), tmp_path / "data", align="mean", progress=False)
