"""The CUDA paths: training in each precision, distillation with the cache, eval, predict, export.

Marked ``gpu`` and skipped where torch sees no CUDA device; ``scripts/device-check.sh`` runs them
on a GPU machine. The CPU halves of the same behaviour are tested in test_train.py and beside.
"""

import json

import numpy as np
import pytest
import torch

import litedepth
from litedepth.config import Config
from litedepth.data import open_dataset
from litedepth.evaluation.loop import evaluate
from litedepth.synth.dataset import write_dataset
from litedepth.training.loop import run
from litedepth.training.mixing import build_training_set
from litedepth.training.optim import build_optimizer
from litedepth.training.step import Autocast, StepSettings, build_objective, train_step

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
SIZE = [48, 64]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 16, split="train", size=(60, 80), progress=False)
    write_dataset(root, 4, split="test", size=(60, 80), progress=False)
    return root


def _config(synth, out, sources=None, **train):
    return Config.from_dict(
        {
            "name": "gpu",
            "model": {"arch": "lite0-student", "input_size": SIZE},
            "data": {"sources": sources or [{"path": str(synth), "kind": "nyu"}], "workers": 2, "val": str(synth)},
            "optim": {"lr": 1e-3},
            "loss": {"kd": "l1"},
            "train": {"epochs": 4, "batch_size": 8, "device": "cuda", "out_dir": str(out), "progress": False, **train},
        }
    )


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda_lowers_the_loss(synth, tmp_path, precision):
    final = run(_config(synth, tmp_path, precision=precision, channels_last=precision != "fp32", clip_grad_norm=5.0))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows) and rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["val"]["rmse"] > 0 and litedepth.load(final).arch == "lite0-student"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_cuda_training_step_never_synchronises(synth, tmp_path, precision):
    """torch raises on any host synchronisation (.item(), bool(), nonzero on the GPU) in the step."""
    cfg = _config(synth, tmp_path)
    data = build_training_set(cfg)
    collated = {  # what the DataLoader hands over (pinned); augmented on the GPU inside the checked steps
        k: v.pin_memory() if torch.is_tensor(v) else v
        for k, v in torch.utils.data.default_collate([data[i] for i in range(8)]).items()
    }
    batch = data.prepare(collated, "cuda")
    model = litedepth.create_model("lite0-student", input_size=tuple(SIZE)).cuda()
    objective, _ = build_objective(cfg)
    optimizer = build_optimizer(cfg, model.parameters())
    settings = StepSettings("cuda", autocast=Autocast("cuda", precision), clip_grad_norm=1.0)
    train_step(model, optimizer, objective, batch, settings)  # warm-up allocations
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            terms = train_step(model, optimizer, objective, data.prepare(collated, "cuda"), settings)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(t.device.type == "cuda" for t in terms) and torch.isfinite(torch.stack(terms)).all()


@pytest.mark.parametrize("cache", [True, False])
def test_distillation_on_cuda(synth, tmp_path, cache):
    teacher = run(_config(synth, tmp_path / "teacher", epochs=1))
    sources = [{"path": str(synth), "kind": "nyu"}, {"path": str(synth), "kind": "nyu", "use_labels": False}]
    cfg = _config(synth, tmp_path / "student", sources, epochs=2, precision="bf16")
    cfg.distill.cache, cfg.distill.teach_labeled = cache, False
    final = run(cfg, teacher=str(teacher))
    rows = [json.loads(line) for line in (tmp_path / "student" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss_teacher"] > 0 and litedepth.load(final).metadata["training"]["teacher"] is not None
    assert (tmp_path / "student" / "teacher-cache").is_dir() == cache


def test_eval_predict_and_export_on_cuda(synth, tmp_path, rgb_image):
    model = litedepth.create_model("fast-student", input_size=tuple(SIZE)).eval()
    data = open_dataset(synth, split="test")
    on_cpu = evaluate(model, data, device="cpu", progress=False).metrics
    on_gpu = evaluate(model, data, device="cuda", progress=False).metrics
    assert next(model.parameters()).device.type == "cuda"
    assert on_gpu["rmse"] == pytest.approx(on_cpu["rmse"], rel=1e-3)
    depth = model.predict(str(rgb_image), device="cuda")
    assert depth.shape == (90, 120) and np.isfinite(depth).all()
    model.to("cpu")
    np.testing.assert_allclose(model.predict(str(rgb_image), device="cpu"), depth, rtol=1e-3, atol=1e-3)
    pytest.importorskip("onnx")
    from litedepth.deploy.export import export_onnx

    model.cuda()
    export_onnx(model, tmp_path / "m.onnx", size=tuple(SIZE))
    assert (tmp_path / "m.onnx").stat().st_size > 0 and next(model.parameters()).device.type == "cuda"
