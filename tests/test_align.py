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


@pytest.mark.parametrize("space", ["depth", "disparity"])
def test_median_alignment_equals_a_hand_computation(tmp_path, space):
    gts = _tiny_set(tmp_path)
    model = RampNet(0.5, 2.0)
    result = evaluate(model, tmp_path, protocol="hu2021", align="median", align_space=space, progress=False)
    ramp = np.broadcast_to(np.linspace(0.5, 2.0, 304, dtype=np.float32).astype(np.float64), (228, 304))
    rows = []
    for gt in gts:
        valid = gt > 0
        if space == "depth":  # depth times median(gt) / median(pred)
            pred = ramp * (np.median(gt[valid]) / np.median(ramp[valid]))
        else:  # disparity times s = median(1/gt) / median(1/pred): depth divided by s
            pred = ramp / (np.median(1 / gt[valid]) / np.median(1 / ramp[valid]))
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
    assert result.to_json()["align_space"] == space and "align_space" not in plain.to_json()
    assert any(f"median scaling in {space} space" in note for note in result.notes)


def _row(values) -> torch.Tensor:
    return torch.tensor([[[values]]], dtype=torch.float64)  # (1, 1, 1, N)


def test_median_alignment_by_hand_in_both_spaces():
    everywhere = torch.ones(1, 1, 1, 3, dtype=torch.bool)
    # The case: gt 4 m, prediction 2 m. Depth: 2 * 4/2 = 4. Disparity: s = 0.25/0.5 = 0.5, 2 / 0.5 = 4.
    for space in ("depth", "disparity"):
        aligned, _ = align(_row([2.0, 2.0, 2.0]), _row([4.0, 4.0, 4.0]), everywhere, "median", space)
        assert aligned.flatten().tolist() == pytest.approx([4.0, 4.0, 4.0])
    # An odd count: inversion reverses the order, so the middle pixel is the median in both spaces
    # and the two give the same depth exactly.
    # pred [1, 2, 4], gt [2, 5, 8]. Depth: median(gt) / median(pred) = 5 / 2 = 2.5 -> [2.5, 5, 10].
    # Disparity: 1/pred [1, .5, .25], 1/gt [.5, .2, .125]; s = .2 / .5 = 0.4 -> depth pred / 0.4 = [2.5, 5, 10].
    pred, gt = _row([1.0, 2.0, 4.0]), _row([2.0, 5.0, 8.0])
    depth, fit_d = align(pred, gt, everywhere, "median", "depth")
    disparity, fit_p = align(pred, gt, everywhere, "median", "disparity", max_depth=5.0)
    assert fit_d == [pytest.approx((2.5, 0.0))] and fit_p == [pytest.approx((0.4, 0.0))]
    assert depth.flatten().tolist() == pytest.approx([2.5, 5.0, 10.0])
    assert disparity.flatten().tolist() == pytest.approx([2.5, 5.0, 10.0])  # scaling only: no depth cap
    # An even count: the median is the mean of the two middle values, which inversion does not keep.
    # pred [1, 2, 4, 8], gt [2, 4, 4, 10]. Depth: median(gt) / median(pred) = 4 / 3 -> [4/3, 8/3, 16/3, 32/3].
    # Disparity: median(1/pred) = (.5 + .25) / 2 = .375, median(1/gt) = (.25 + .25) / 2 = .25;
    # s = .25 / .375 = 2/3 -> depth pred * 3/2 = [1.5, 3, 6, 12].
    pred, gt, everywhere = _row([1.0, 2.0, 4.0, 8.0]), _row([2.0, 4.0, 4.0, 10.0]), torch.ones(1, 1, 1, 4, dtype=bool)
    depth, _ = align(pred, gt, everywhere, "median", "depth")
    disparity, _ = align(pred, gt, everywhere, "median", "disparity")
    assert depth.flatten().tolist() == pytest.approx([4 / 3, 8 / 3, 16 / 3, 32 / 3])
    assert disparity.flatten().tolist() == pytest.approx([1.5, 3.0, 6.0, 12.0])
    # A prediction <= 0 takes no part and keeps its sign; a ground truth <= 0 takes no part either.
    # pred [1, 2, 4, -1], gt [2, 5, 8, 0]: the fit of [1, 2, 4] -> [2, 5, 8] above, 2.5 or 0.4.
    pred, gt = _row([1.0, 2.0, 4.0, -1.0]), _row([2.0, 5.0, 8.0, 0.0])
    for space in ("depth", "disparity"):
        aligned, _ = align(pred, gt, everywhere, "median", space)
        assert aligned.flatten().tolist() == pytest.approx([2.5, 5.0, 10.0, -2.5])


def test_lstsq_alignment_by_hand_in_both_spaces():
    everywhere = torch.ones(1, 1, 1, 3, dtype=torch.bool)
    # Depth: x = pred [1, 2, 3], y = gt [2, 3, 5]. mean x = 2, mean y = 10/3;
    # s = sum (x - 2)(y - 10/3) / sum (x - 2)^2 = (4/3 + 5/3) / 2 = 1.5, t = 10/3 - 1.5 * 2 = 1/3
    # -> [1.5 + 1/3, 3 + 1/3, 4.5 + 1/3] = [11/6, 10/3, 29/6].
    aligned, fits = align(_row([1.0, 2.0, 3.0]), _row([2.0, 3.0, 5.0]), everywhere, "lstsq", "depth")
    assert fits == [pytest.approx((1.5, 1 / 3))]
    assert aligned.flatten().tolist() == pytest.approx([11 / 6, 10 / 3, 29 / 6])
    # Disparity: the same numbers as 1/depth. pred [1, 1/2, 1/3] (x = [1, 2, 3]), gt [1/2, 1/3, 1/5] (y = [2, 3, 5]):
    # s = 1.5, t = 1/3, aligned disparity [11/6, 10/3, 29/6] -> depth [6/11, 3/10, 6/29].
    aligned, fits = align(_row([1.0, 1 / 2, 1 / 3]), _row([1 / 2, 1 / 3, 1 / 5]), everywhere, "lstsq", "disparity")
    assert fits == [pytest.approx((1.5, 1 / 3))]
    assert aligned.flatten().tolist() == pytest.approx([6 / 11, 3 / 10, 6 / 29])
    # A disparity the fit makes <= 0 is clamped at 1 / max_depth. Fit on the first three pixels:
    # x = [1, 2, 3], y = [1, 3, 5] -> s = 2, t = -1 exactly. Pixel 4 (outside the mask): pred 4, x = 1/4,
    # 2/4 - 1 = -0.5 <= 0 -> 1/10 -> 10 m. Pixel 5: pred 0, no disparity -> 10 m. Pixel 6: gt 0 in the mask,
    # left out of the fit (its 1/gt would be inf); pred 1/2 -> x = 2 -> 2 * 2 - 1 = 3 -> 1/3 m.
    pred = _row([1.0, 1 / 2, 1 / 3, 4.0, 0.0, 1 / 2])
    gt = _row([1.0, 1 / 3, 1 / 5, 1.0, 1.0, 0.0])
    mask = torch.tensor([[[[True, True, True, False, False, True]]]])
    aligned, fits = align(pred, gt, mask, "lstsq", "disparity", max_depth=10.0)
    assert fits == [pytest.approx((2.0, -1.0))]
    assert aligned.flatten().tolist() == pytest.approx([1.0, 1 / 3, 1 / 5, 10.0, 10.0, 1 / 3])


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
    cases = (("none", None), ("median", None), ("median", "disparity"), ("lstsq", "depth"), ("lstsq", "disparity"))
    for mode, space in cases:
        out = tmp_path / f"{mode}-{space}.json"
        argv = ["eval", "--model", str(ckpt), "--data", str(tmp_path / "data"), "--json", str(out), "--no-progress"]
        assert main([*argv, "--align", mode, *(["--align-space", space] if space else [])]) == 0
        saved = json.loads(out.read_text())
        assert saved["align"] == mode and saved["n_images"] == 2
        assert saved.get("align_space") == (None if mode == "none" else space or "depth")  # depth: the default
        assert (f"in {space or 'depth'} space" in capsys.readouterr().out) == (mode != "none")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown mode on one line
        main(["eval", "--model", str(ckpt), "--data", str(tmp_path / "data"), "--align", "mean"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--align: invalid choice: 'mean'" in err[0]
    with pytest.raises(LitedepthError, match="--align 'mean'"):
        evaluate(RampNet(1, 2), tmp_path / "data", align="mean", progress=False)
