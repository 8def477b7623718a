"""Metrics against hand computations and an independent transcription of the authors' arithmetic."""

from __future__ import annotations

import math

import numpy as np
import torch

from litedepth.evaluation.metrics import METRIC_NAMES, compute_metrics, mean_over_images, nonpositive_count, valid_count


def hand_metrics(pred: list[float], gt: list[float]) -> dict[str, float]:
    """Per-image metrics over the pixels with gt > 0, in plain Python floats."""
    pairs = [(o, t) for o, t in zip(pred, gt) if t > 0]
    n = len(pairs)
    mse = sum((o - t) ** 2 for o, t in pairs) / n
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": sum(abs(o - t) for o, t in pairs) / n,
        "abs_rel": sum(abs(o - t) / t for o, t in pairs) / n,
        "log10": sum(abs(math.log10(o) - math.log10(t)) for o, t in pairs) / n,
        **{f"delta{k}": sum(max(o / t, t / o) <= 1.25**k for o, t in pairs) / n for k in (1, 2, 3)},
    }


def test_tiny_example_matches_hand_computation_with_mask_and_per_image_mean():
    # image 0: one invalid pixel (gt 0); o/t = 1.25 exactly and t/o = 1.25 exactly both count for delta1
    p0, g0 = [1.25, 1.0, 3.0, 7.0], [1.0, 1.25, 0.0, 2.0]
    # image 1: all valid, a ratio of exactly 1.25**2 and 1.25**3
    p1, g1 = [1.5625, 2.0, 1.953125, 4.0], [1.0, 2.0, 1.0, 5.0]
    pred = torch.tensor([p0, p1], dtype=torch.float32).view(2, 1, 2, 2)
    gt = torch.tensor([g0, g1], dtype=torch.float32).view(2, 1, 2, 2)
    per = compute_metrics(pred, gt)
    for b, (p, g) in enumerate([(p0, g0), (p1, g1)]):
        expected = hand_metrics(p, g)
        for name in METRIC_NAMES:
            assert math.isclose(float(per[name][b]), expected[name], rel_tol=1e-6), (b, name)
    # exact threshold values: image 0 has 2 of 3 valid pixels within 1.25 (7/2 is not)
    assert float(per["delta1"][0]) == 2 / 3
    assert float(per["delta2"][1]) == 3 / 4 and float(per["delta3"][1]) == 1.0
    assert valid_count(gt > 0).tolist() == [3, 4]
    rows = [{k: float(v[b]) for k, v in per.items()} for b in range(2)]
    dataset = mean_over_images(rows)
    # RMSE of the dataset is the mean of per-image RMSEs, not the RMSE of pooled pixels
    h0, h1 = hand_metrics(p0, g0), hand_metrics(p1, g1)
    assert math.isclose(dataset["rmse"], (h0["rmse"] + h1["rmse"]) / 2, rel_tol=1e-9)
    pooled = math.sqrt((h0["mse"] * 3 + h1["mse"] * 4) / 7)
    assert not math.isclose(dataset["rmse"], pooled, rel_tol=1e-3)


def authors_evaluate_error(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The authors' per-image arithmetic on already-masked 1-D tensors (transcribed from the reference)."""
    n = output.numel()
    diff = (output - target).abs()
    mse = (diff**2).sum() / n
    lg = (torch.log(output) / math.log(10) - torch.log(target) / math.log(10)).abs()
    x, y = output / target, target / output
    z = x.clone()
    larger = x < y
    z[larger] = y[larger]
    return {
        "mse": float(mse),
        "rmse": float(torch.sqrt(mse)),
        "mae": float(diff.sum() / n),
        "abs_rel": float((diff / target).sum() / n),
        "log10": float(lg.sum() / n),
        **{f"delta{k}": float((z <= 1.25**k).float().sum() / n) for k in (1, 2, 3)},
    }


def test_random_batches_match_the_authors_arithmetic():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(3, 1, 9, 11, generator=g) * 5 + 0.05
    gt = torch.rand(3, 1, 9, 11, generator=g) * 6
    gt[gt < 1.0] = 0  # about a sixth invalid
    per = compute_metrics(pred, gt)
    for b in range(3):
        m = gt[b] > 0
        ref = authors_evaluate_error(pred[b][m], gt[b][m])
        for name in METRIC_NAMES:
            assert math.isclose(float(per[name][b]), ref[name], rel_tol=1e-5, abs_tol=1e-7), (b, name)


def test_nonpositive_predictions_follow_the_authors_arithmetic():
    gt = torch.ones(1, 1, 1, 4)
    neg = torch.tensor([1.0, 1.0, -2.0, 1.0]).view(1, 1, 1, 4)
    zero = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(1, 1, 1, 4)
    m_neg, m_zero = compute_metrics(neg, gt), compute_metrics(zero, gt)
    assert math.isnan(float(m_neg["log10"][0])) and math.isinf(float(m_zero["log10"][0]))
    # a negative prediction has max(o/t, t/o) < 0, so the authors count it as accurate
    assert float(m_neg["delta1"][0]) == 1.0
    assert float(m_zero["delta1"][0]) == 0.75  # o = 0 gives t/o = inf
    ref = authors_evaluate_error(neg.flatten(), gt.flatten())
    assert ref["delta1"] == 1.0 and math.isnan(ref["log10"])
    assert nonpositive_count(neg, gt > 0).tolist() == [1]
    # errors stay finite and defined
    np.testing.assert_allclose(float(m_neg["mae"][0]), 3 / 4)
