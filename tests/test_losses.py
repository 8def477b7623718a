import math

import numpy as np
import pytest
import torch

from litedepth.training.losses import (
    DepthLoss,
    DistillationLoss,
    L1Loss,
    ScaleInvariantLogLoss,
    ScaleShiftInvariantLoss,
    align_scale_shift,
    erode,
    kd_loss,
    sobel,
)

KX = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
KY = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)


def hand_sobel(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Cross-correlation with zero padding 1, written out with loops."""
    h, w = a.shape
    p = np.zeros((h + 2, w + 2))
    p[1:-1, 1:-1] = a
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            out[y, x] = sum(k[i, j] * p[y + i, x + j] for i in range(3) for j in range(3))
    return out


def hand_loss(o: np.ndarray, d: np.ndarray) -> tuple[float, float, float]:
    """The WACV-2019 terms over all pixels, computed pixel by pixel."""
    depth = np.mean([math.log(abs(a - b) + 0.5) for a, b in zip(o.ravel(), d.ravel())])
    ox, oy, dx, dy = hand_sobel(o, KX), hand_sobel(o, KY), hand_sobel(d, KX), hand_sobel(d, KY)
    grad = np.mean(np.log(np.abs(ox - dx) + 0.5)) + np.mean(np.log(np.abs(oy - dy) + 0.5))
    cos = []
    for a1, a2, b1, b2 in zip(ox.ravel(), oy.ravel(), dx.ravel(), dy.ravel()):
        no, nd = np.array([-a1, -a2, 1.0]), np.array([-b1, -b2, 1.0])
        cos.append(no @ nd / (np.linalg.norm(no) * np.linalg.norm(nd)))
    normal = np.mean(np.abs(1 - np.array(cos)))
    return depth, grad, normal


def test_sobel_matches_hand_cross_correlation():
    a = np.arange(12, dtype=np.float64).reshape(3, 4) ** 1.5
    dx, dy = sobel(torch.tensor(a)[None, None])
    np.testing.assert_allclose(dx[0, 0].numpy(), hand_sobel(a, KX), rtol=1e-12)
    np.testing.assert_allclose(dy[0, 0].numpy(), hand_sobel(a, KY), rtol=1e-12)
    # a left-to-right ramp: dx = -8 * slope inside the image (the kernel is [1, 0, -1])
    ramp = torch.arange(5.0).repeat(4, 1)[None, None]
    assert torch.allclose(sobel(ramp)[0][0, 0, 1:-1, 1:-1], torch.full((2, 3), -8.0))


def test_depth_loss_terms_match_hand_computation():
    rng = np.random.default_rng(0)
    o, d = rng.uniform(0.5, 3, (4, 5)), rng.uniform(0.5, 3, (4, 5))
    terms = DepthLoss().terms(torch.tensor(o)[None, None], torch.tensor(d)[None, None])
    hd, hg, hn = hand_loss(o, d)
    assert terms["depth"].item() == pytest.approx(hd, rel=1e-10)
    assert terms["gradient"].item() == pytest.approx(hg, rel=1e-10)
    assert terms["normal"].item() == pytest.approx(hn, rel=1e-10)
    weighted = DepthLoss(depth=2.0, gradient=0.5, normal=3.0)(torch.tensor(o)[None, None], torch.tensor(d)[None, None])
    assert weighted.item() == pytest.approx(2 * hd + 0.5 * hg + 3 * hn, rel=1e-10)


def test_depth_loss_known_values():
    # identical maps: every log term is log(0.5) and the normals agree
    d = torch.rand(2, 1, 6, 7) + 1
    t = DepthLoss().terms(d, d)
    assert t["depth"].item() == pytest.approx(math.log(0.5))
    assert t["gradient"].item() == pytest.approx(2 * math.log(0.5))
    assert t["normal"].item() == pytest.approx(0.0, abs=1e-7)
    # a constant offset of 1.5 m: depth term log(2)
    assert DepthLoss().terms(d + 1.5, d)["depth"].item() == pytest.approx(math.log(2.0), rel=1e-6)


def test_masked_pixels_do_not_count():
    rng = np.random.default_rng(1)
    o = torch.tensor(rng.uniform(1, 2, (1, 1, 8, 8)))
    d = torch.tensor(rng.uniform(1, 2, (1, 1, 8, 8)))
    d[..., 2, 3] = 0.0  # invalid ground truth
    mask = d > 0
    loss = DepthLoss()
    base = loss(o, d, mask)
    o2 = o.clone()
    o2[..., 2, 3] = 50.0  # any prediction where the target is invalid
    assert loss(o2, d, mask).item() == pytest.approx(base.item(), rel=1e-12)
    # the depth term is the mean over the 63 valid pixels only
    expected = torch.log((o - d).abs() + 0.5)[mask].mean()
    assert loss.terms(o, d, mask)["depth"].item() == pytest.approx(expected.item(), rel=1e-12)
    # gradient terms: pixels next to the hole are left out (eroded mask), the rest count
    inner = erode(mask)
    assert int(inner.sum()) == 64 - 9
    ox, oy = sobel(o)
    dx, dy = sobel(d)
    expected = torch.log((ox - dx).abs() + 0.5)[inner].mean() + torch.log((oy - dy).abs() + 0.5)[inner].mean()
    assert loss.terms(o, d, mask)["gradient"].item() == pytest.approx(expected.item(), rel=1e-12)


def test_all_valid_mask_equals_unmasked_reference():
    o, d = torch.rand(2, 1, 5, 6) + 1, torch.rand(2, 1, 5, 6) + 1
    loss = DepthLoss()
    assert loss(o, d, torch.ones_like(d, dtype=torch.bool)).item() == pytest.approx(loss(o, d).item(), rel=1e-12)
    # the reference's own formulation (nn.CosineSimilarity over the normal channels)
    ox, oy = sobel(o)
    dx, dy = sobel(d)
    ones = torch.ones_like(o)
    cos = torch.nn.CosineSimilarity(dim=1, eps=0)(torch.cat((-ox, -oy, ones), 1), torch.cat((-dx, -dy, ones), 1))
    ref = (
        torch.log((o - d).abs() + 0.5).mean()
        + torch.log((ox - dx).abs() + 0.5).mean()
        + torch.log((oy - dy).abs() + 0.5).mean()
        + (1 - cos).abs().mean()
    )
    assert loss(o, d).item() == pytest.approx(ref.item(), rel=1e-6)


def test_empty_mask_gives_zero_with_gradient():
    o = torch.rand(1, 1, 4, 4, requires_grad=True)
    value = DepthLoss()(o, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.bool))
    value.backward()
    assert value.item() == 0.0 and o.grad is not None


def test_l1_and_scale_shift_invariant():
    t = torch.rand(2, 1, 6, 6) + 0.5
    mask = torch.ones_like(t, dtype=torch.bool)
    mask[0, 0, 0, 0] = False
    assert L1Loss()(t + 0.25, t, mask).item() == pytest.approx(0.25, rel=1e-6)
    # depth space: any positive affine map of the target costs nothing
    assert ScaleShiftInvariantLoss("depth")(3.0 * t + 2.0, t, mask).item() == pytest.approx(0.0, abs=1e-5)
    # disparity space: a student depth whose inverse is affine in the teacher's disparity
    disp = t
    student_depth = 1.0 / (0.5 * disp + 0.1) - 1e-3  # the loss reads 1 / (depth + min_depth)
    assert ScaleShiftInvariantLoss("disparity")(student_depth, disp, mask).item() == pytest.approx(0.0, abs=1e-4)
    assert ScaleShiftInvariantLoss("depth")(torch.rand_like(t), t, mask).item() > 0.1
    # the teacher's own scale does not matter
    p = torch.rand_like(t)
    assert ScaleShiftInvariantLoss("depth")(p, 1e-3 * t, mask).item() == pytest.approx(
        ScaleShiftInvariantLoss("depth")(p, t, mask).item(), rel=1e-4
    )
    aligned = align_scale_shift(2 * t - 1, t, mask)
    assert torch.allclose(aligned, t, atol=1e-5)


def test_scale_invariant_log_loss_matches_hand_computation():
    torch.manual_seed(0)
    pred, target = torch.rand(3, 1, 5, 6) * 4 + 1.5, torch.rand(3, 1, 5, 6) * 4 + 1.5
    mask = torch.rand(3, 1, 5, 6) > 0.3
    mask[2] = False  # an image without valid pixels adds nothing
    loss = ScaleInvariantLogLoss(lam=0.85, alpha=10.0, edges=False)
    per_image = []
    for o, d, m in zip(pred.double().numpy(), target.double().numpy(), mask.numpy()):
        if not m.any():
            continue
        g = np.log(np.log1p(np.exp(10 * o[m])) / 10 + 1e-3) - np.log(d[m])  # softplus(beta=10) + min_depth
        per_image.append(10 * math.sqrt(np.mean(g**2) - 0.85 * np.mean(g) ** 2))
    assert loss(pred, target, mask).item() == pytest.approx(np.mean(per_image), rel=1e-4)
    # each image's own scale costs only the (1 - lam) part: nothing at lam = 1
    scaled = target * torch.tensor([2.0, 0.5, 3.0]).view(3, 1, 1, 1)
    assert ScaleInvariantLogLoss(lam=1.0, edges=False)(scaled, target).item() == pytest.approx(0.0, abs=1e-2)
    assert loss(scaled, target).item() > 5 * ScaleInvariantLogLoss(lam=1.0, edges=False)(scaled, target).item()
    # the named distillation loss adds the WACV-2019 gradient and normal terms
    assert kd_loss("silog")(pred, target, mask).item() == pytest.approx(
        loss(pred, target, mask).item() + DepthLoss(0.0, 1.0, 1.0)(pred, target, mask).item(), rel=1e-5
    )
    # a student that starts at or below 0 m still gets a gradient
    start = torch.full((1, 1, 4, 4), -0.2, requires_grad=True)
    loss(start, torch.full((1, 1, 4, 4), 2.0) * torch.rand(1, 1, 4, 4).add(0.5)).backward()
    assert start.grad.abs().sum().item() > 0


def test_distillation_loss_names_its_parts():
    s = torch.rand(2, 1, 8, 8, requires_grad=True)
    gt, teacher = torch.rand(2, 1, 8, 8) + 1, torch.rand(2, 1, 8, 8) + 1
    base = DepthLoss()
    loss = DistillationLoss(base, kd_loss("l1"), gt_weight=0.5, teacher_weight=2.0)
    total, parts = loss(student=s, gt=gt, teacher=teacher)
    assert set(parts) == {"gt", "teacher"}
    assert total.item() == pytest.approx(0.5 * base(s, gt).item() + 2.0 * (s - teacher).abs().mean().item(), rel=1e-6)
    only_teacher, parts = loss(student=s, teacher=teacher)
    assert set(parts) == {"teacher"} and only_teacher.item() == pytest.approx(2.0 * parts["teacher"].item(), rel=1e-6)
    # a mask without valid pixels makes the term 0 and adds no gradient
    total, parts = loss(student=s, gt=gt, gt_mask=torch.zeros_like(gt, dtype=torch.bool), teacher=teacher)
    assert parts["gt"].item() == 0.0 and total.item() == pytest.approx(2.0 * parts["teacher"].item(), rel=1e-6)
    total.backward()
    kd_only = s.detach().clone().requires_grad_()
    (2.0 * (kd_only - teacher).abs().mean()).backward()
    assert torch.equal(s.grad, kd_only.grad)
    with pytest.raises(ValueError, match="unknown distillation loss"):
        kd_loss("l3")
