import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import litedepth
from litedepth.cli import main
from litedepth.config import Config
from litedepth.preprocess import stats_of
from litedepth.synth.dataset import write_dataset
from litedepth.training.batchnorm import precise_batchnorm
from litedepth.training.checkpoints import load_checkpoint
from litedepth.training.loop import run
from litedepth.training.mixing import EpochSampler, build_training_set, clean_transform
from litedepth.training.optim import build_optimizer
from litedepth.training.step import LiveTeacher, StepSettings, build_objective, train_step

SIZE = [48, 64]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 16, split="train", size=(48, 64), progress=False)
    write_dataset(root, 4, split="test", size=(48, 64), progress=False)
    return root


def tiny_config(synth: Path, out: Path, **train) -> Config:
    return Config.from_dict(
        {
            "name": "tiny",
            "model": {"arch": "hu2021-student", "input_size": SIZE},
            "data": {
                "sources": [{"path": str(synth), "kind": "nyu", "split": "train"}],
                "workers": 0,
                "val": str(synth),
            },
            "optim": {"lr": 1e-3},
            "schedule": {"step_epochs": 1, "gamma": 0.5},
            "train": {
                "epochs": 2,
                "batch_size": 4,
                "device": "cpu",
                "out_dir": str(out),
                "progress": False,
                "threads": 1,
                **train,
            },
        }
    )


def test_a_few_steps_lower_the_loss(synth, tmp_path):
    cfg = tiny_config(synth, tmp_path, batch_size=8)
    cfg.augment.enabled = False
    data = build_training_set(cfg)
    batch = data.batch(range(8))
    assert batch["image"].shape == (8, 3, *SIZE) and batch["depth"].shape == (8, 1, *SIZE)
    assert batch["has_depth"].tolist() == [1.0] * 8 and batch["teach"].tolist() == [0.0] * 8
    torch.manual_seed(0)
    model = litedepth.create_model("hu2021-student", input_size=tuple(SIZE))
    objective, kd = build_objective(cfg)
    assert kd is None
    optimizer = build_optimizer(cfg, model.parameters())
    losses = [train_step(model, optimizer, objective, batch, StepSettings("cpu")).total.item() for _ in range(12)]
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]


def test_sampler_is_a_function_of_seed_and_epoch():
    a, b = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    a.set_epoch(1)
    b.set_epoch(1, start=4)
    assert sorted(a.indices()) == list(range(10)) and list(b) == [(1, i) for i in a.indices()[4:]]
    b.set_epoch(1, start=4, stop=7)
    assert list(b) == [(1, i) for i in a.indices()[4:7]] and len(b) == 3
    a.set_epoch(2)
    assert a.indices() != b.indices()
    halves = [EpochSampler(11, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert set(halves[0].indices()) | set(halves[1].indices()) == set(range(11)) and len(halves[0]) == 6


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope="module")
def uninterrupted(synth, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full")
    return run(tiny_config(synth, out))


def test_run_layout_and_provenance(uninterrupted):
    out = uninterrupted.parent
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "last.pt", "metrics.jsonl", "model.safetensors"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["images"] == 16 and r["images_per_s"] > 0 for r in rows)
    assert rows[0]["lr"] == 1e-3 and rows[1]["lr"] == 5e-4  # step schedule
    assert rows[0]["loss_teacher"] == 0.0 and rows[0]["loss"] == pytest.approx(rows[0]["loss_gt"])
    assert {"rmse", "abs_rel", "delta1"} <= set(rows[1]["val"]) and rows[1]["val"]["rmse"] > 0  # synthetic test split
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 2
    model = litedepth.load(uninterrupted)
    assert model.arch == "hu2021-student" and model.input_size == tuple(SIZE)
    training = model.metadata["training"]
    assert training["epochs"] == 2 and training["teacher"] is None and training["encoder_init"] == "scratch"
    ck = load_checkpoint(out / "last.pt")
    assert ck["state"]["epoch"] == 2 and set(ck["rng"]) >= {"python", "numpy", "torch"} and "optimizer" in ck


def test_stop_and_resume_equals_uninterrupted(synth, tmp_path, uninterrupted):
    cfg = tiny_config(synth, tmp_path, epochs=1)
    run(cfg)
    cfg.train.epochs = 2
    final = run(cfg, resume=True)
    _assert_same(final, uninterrupted)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_kill_9_mid_epoch_then_resume(synth, tmp_path, uninterrupted):
    out = tmp_path / "killed"
    args = ["--config", str(tmp_path / "cfg.yaml"), "--set", "train.checkpoint_every=1"]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(tiny_config(synth, out).to_dict()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "litedepth", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 60
    ckpt = out / "last.pt"
    try:
        seen = None
        while time.time() < deadline and proc.poll() is None:
            stamp = ckpt.stat().st_mtime_ns if ckpt.is_file() else None
            if stamp != seen:  # a new checkpoint: read its step
                seen = stamp
                if torch.load(ckpt, weights_only=True)["state"]["step"] >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "training finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = load_checkpoint(ckpt)
    assert 0 < state["state"]["step"] < 8 and not (out / "model.safetensors").exists()
    assert main(["train", *args, "--resume"]) == 0
    _assert_same(out / "model.safetensors", uninterrupted)


def test_resume_refuses_a_different_config(synth, tmp_path):
    run(tiny_config(synth, tmp_path, epochs=1, steps_per_epoch=1))
    changed = tiny_config(synth, tmp_path, epochs=2, steps_per_epoch=1)
    changed.optim.lr = 0.5
    with pytest.raises(litedepth.LitedepthError, match="optim.lr"):
        run(changed, resume=True)


def test_cli_errors_are_one_line(synth, tmp_path, capsys):
    assert main(["train", "--config", "synth-teacher", "--set", f"data.sources.0.path={tmp_path / 'nope'}"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    cfg = [
        "--config",
        "synth-teacher",
        "--set",
        f"data.sources.0.path={synth}",
        "--set",
        "data.sources.0.role=unlabeled",
    ]
    assert main(["train", *cfg]) == 2
    assert "needs a teacher" in capsys.readouterr().err


def test_default_augmentation_is_the_reference_recipe():
    from litedepth.data import test_transform, train_transform
    from litedepth.training.mixing import build_transform

    cfg = Config.from_dict({"model": {"input_size": [228, 304]}})
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    assert repr(build_transform(cfg, mean, std)) == repr(train_transform((228, 304), mean, std))
    cfg.augment.enabled = False
    assert repr(build_transform(cfg, mean, std)) == repr(test_transform((228, 304), mean, std))


def _mixed_batch(n: int = 4, size=SIZE) -> dict:
    """Two labeled images and two unlabeled ones for the live teacher."""
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(n, 3, *size, generator=g),
        "depth": torch.rand(n, 1, *size, generator=g) + 1,
        "target": torch.zeros(n, 1, *size),
        "target_mask": torch.zeros(n, 1, *size),
        "has_depth": torch.tensor([1.0, 1.0, 0.0, 0.0]),
        "teach": torch.tensor([0.0, 0.0, 1.0, 1.0]),
        "cached": torch.zeros(n),
        "source": torch.tensor([0, 0, 1, 1]),
    }


def test_a_training_step_never_reads_a_value_from_the_device():
    """On the meta device a tensor has no values: any .item(), float() or bool() in the step raises."""
    from litedepth.training.teachers import TorchTeacher

    with pytest.raises(Exception):  # noqa: B017  (the meta device's error type is not part of torch's API)
        bool(torch.ones(2, device="meta").any())  # what a host synchronisation looks like there
    cfg = Config.from_dict({"loss": {"kd": "l1"}})
    model = litedepth.create_model("lite0-student", input_size=tuple(SIZE)).to("meta")
    teacher = TorchTeacher(
        litedepth.create_model("fast-student", input_size=tuple(SIZE)), device="meta", identity="meta"
    )
    objective, _ = build_objective(cfg, teacher)
    optimizer = build_optimizer(cfg, model.parameters())
    settings = StepSettings("meta", accumulate=2, clip_grad_norm=1.0, live_teacher=LiveTeacher(teacher))
    terms = train_step(model, optimizer, objective, _mixed_batch(), settings)
    assert all(t.device.type == "meta" and t.shape == () for t in terms)


def test_accumulated_chunks_make_the_same_step():
    """Without batch statistics, a batch run as 2 chunks gives the gradient of the whole batch."""
    cfg = Config.from_dict({"optim": {"name": "sgd", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0}})
    batch = _mixed_batch()
    batch["has_depth"], batch["teach"] = torch.ones(4), torch.zeros(4)
    nets = []
    for accumulate in (1, 2):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1)
        )
        objective, _ = build_objective(cfg)
        settings = StepSettings("cpu", accumulate=accumulate)
        terms = train_step(net, build_optimizer(cfg, net.parameters()), objective, batch, settings)
        nets.append((net, torch.stack(terms)))
    (a, ta), (b, tb) = nets
    assert torch.allclose(ta, tb, rtol=1e-5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-4, atol=1e-6)


def test_bf16_training_lowers_the_loss(synth, tmp_path):
    run(tiny_config(synth, tmp_path, epochs=4, precision="bf16"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < 0.9 * rows[0]["loss"] and rows[-1]["val"]["rmse"] > 0


def test_cpu_bf16_keeps_depthwise_convolutions_in_fp32(monkeypatch):
    from litedepth.models import create_model
    from litedepth.training.step import Autocast, Fp32DepthwiseConv2d

    torch.manual_seed(0)
    model = create_model("lite0-student", input_size=(48, 64)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    depthwise = [m for m in convs if m.groups == m.in_channels > 1]
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        fp32 = model(x)
    autocast = Autocast("cpu", "bf16")
    autocast.adapt(model)
    assert depthwise and all(type(m) is Fp32DepthwiseConv2d for m in depthwise)
    assert sum(type(m) is torch.nn.Conv2d for m in convs) == len(convs) - len(depthwise) > 0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    outputs = {}
    for name, module in (("depthwise", depthwise[0]), ("pointwise", next(m for m in convs if m.groups == 1))):
        module.register_forward_hook(lambda m, args, out, name=name: outputs.update({name: out.dtype}))
    with torch.no_grad(), autocast():
        mixed = model(x).float()
    assert outputs == {"depthwise": torch.float32, "pointwise": torch.bfloat16}
    assert (mixed - fp32).abs().mean() < 0.02 * fp32.abs().mean()
    # auto: bf16 on a CPU with AMX tiles, fp32 on one without
    for amx, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        assert Autocast("cpu", "auto").precision == expected


def test_step_budgets(synth, tmp_path):
    # 16 images, batch 4: 4 steps per epoch; max_steps counts steps in all and may end mid-epoch
    run(tiny_config(synth, tmp_path / "total", epochs=3, max_steps=6))
    rows = [json.loads(line) for line in (tmp_path / "total" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["images"]) for r in rows] == [(4, 16), (6, 8)]
    run(tiny_config(synth, tmp_path / "per-epoch", epochs=2, steps_per_epoch=1))
    rows = [json.loads(line) for line in (tmp_path / "per-epoch" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["images"]) for r in rows] == [(1, 4), (2, 4)]
    with pytest.raises(litedepth.LitedepthError, match="max_steps 9 is more than the 8 steps"):
        run(tiny_config(synth, tmp_path / "over", epochs=2, max_steps=9))
    with pytest.raises(litedepth.LitedepthError, match="one step budget"):
        tiny_config(synth, tmp_path, steps_per_epoch=1, max_steps=2)
    with pytest.raises(litedepth.LitedepthError, match="accumulate"):
        tiny_config(synth, tmp_path, accumulate=3)


def test_the_training_camera_is_recorded(synth, tmp_path):
    cfg = tiny_config(synth, tmp_path, epochs=1, steps_per_epoch=1)
    cfg = Config.from_dict(
        cfg.to_dict(),
        [
            "model.camera.fx=600",
            "model.camera.fy=600",
            "model.camera.width=1280",
            "model.camera.height=720",
            "model.camera.cx=640",
            "model.camera.cy=360",
        ],
    )
    model = litedepth.load(run(cfg))
    assert (model.camera.fx, model.camera.width, model.camera.cy) == (600.0, 1280, 360.0)
    with pytest.raises(litedepth.LitedepthError, match="model.camera"):
        Config.from_dict(cfg.to_dict(), ["model.camera.fx=0"])


def test_a_camera_given_in_part_keeps_nyus_other_values():
    from litedepth.camera import Intrinsics

    cfg = Config.from_dict({"model": {"camera": {"fx": 600, "cy": 200}}})
    nyu = Intrinsics.nyu()
    assert cfg.model.camera == Intrinsics(600.0, nyu.fy, nyu.cx, 200.0, nyu.width, nyu.height)
    assert cfg.to_dict()["model"]["camera"] == cfg.model.camera.to_dict()  # the YAML keys are the camera's
    assert Config.from_dict({}).model.camera == nyu
    with pytest.raises(litedepth.LitedepthError, match="unknown key 'model.camera.focal'"):
        Config.from_dict({"model": {"camera": {"focal": 600}}})


def test_precise_batchnorm_averages_the_statistics_of_clean_training_images(synth):
    cfg = tiny_config(synth, Path("unused"))
    data = build_training_set(cfg)
    torch.manual_seed(0)
    model = litedepth.create_model("hu2021-student", input_size=tuple(SIZE)).eval()
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:  # stale moving averages, as training leaves them
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(9.0)
    transform = clean_transform(cfg, *stats_of(model))
    assert precise_batchnorm(model, data, transform, images=1000, batch_size=4) == 16  # all 16: fewer than asked for
    # the first BatchNorm sees the first convolution's output: its statistics, batch by batch, computed here
    first = bns[0]
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    images = torch.stack(
        [transform({"image": data.raw(0, i)["image"], "_depth_keys": []}, None)["image"] for i in range(16)]
    )
    with torch.no_grad():
        features = conv(images)
    batches = features.split(4)
    mean = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    var = torch.stack([b.transpose(0, 1).flatten(1).var(dim=1) for b in batches]).mean(0)
    assert torch.allclose(first.running_mean, mean, atol=1e-5) and torch.allclose(first.running_var, var, rtol=1e-4)
    assert all(not torch.equal(bn.running_mean, torch.full_like(bn.running_mean, 3.0)) for bn in bns)
    assert not model.training and all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def test_the_saved_network_has_precise_batchnorm_statistics(synth, tmp_path, uninterrupted):
    moving = load_checkpoint(uninterrupted.parent / "last.pt")["model"]  # the moving averages at the last step
    saved = _weights(uninterrupted)
    stats = [k for k in saved if k.endswith("running_mean")]
    assert stats and all(not torch.equal(saved[k], moving[k]) for k in stats)
    assert all(torch.equal(saved[k], moving[k]) for k in saved if "running" not in k and "num_batches" not in k)
    kept = run(tiny_config(synth, tmp_path, precise_bn_images=0))
    assert all(torch.equal(_weights(kept)[k], moving[k]) for k in stats)


# --- runs that fail (issue 30, part 3): never marked finished, always continued by --resume


def _tiny_cli(synth: Path, out: Path) -> list[str]:
    """``train`` arguments for a two-step run of a small network on ``synth`` into ``out``."""
    settings = {
        "model.arch": "fast-student",
        "model.input_size": "[48,64]",
        "model.encoder_weights": "null",
        "data.sources.0.path": synth,
        "data.workers": 0,
        "data.val": "null",
        "train.epochs": 1,
        "train.steps_per_epoch": 2,
        "train.batch_size": 2,
        "train.device": "cpu",
        "train.progress": "false",
        "train.precise_bn_images": 0,
        "train.out_dir": out,
    }
    return ["--config", "synth-teacher", *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("litedepth")]


@pytest.mark.parametrize(
    "name, lr, checkpoint_every, message",
    [
        # Adam's first step moves every weight by about lr: finite weights, a NaN loss at the next step
        ("adam", "1e30", 0, r"^litedepth train: error: step 2: the training loss is NaN or infinite"),
        # SGD's first step overflows: the checkpoint after it is refused
        ("sgd", "1e38", 1, r"^litedepth train: error: step 1: \d+ of \d+ weight tensors hold NaN or infinite"),
    ],
)
def test_a_diverging_run_stops_at_once_unfinished_and_resumes(
    synth, tmp_path, capsys, name, lr, checkpoint_every, message
):
    from litedepth.outputs import read_marker

    out = tmp_path / "run"
    args = [
        *_tiny_cli(synth, out),
        "--set",
        f"train.checkpoint_every={checkpoint_every}",
        "--set",
        f"optim.name={name}",
    ]
    capsys.readouterr()
    assert main(["train", *args, "--set", f"optim.lr={lr}"]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert f"optim.lr={float(lr):g}" in errors[0] and "no checkpoint yet" in errors[0]
    assert read_marker(out)["state"] == "training"
    assert not (out / "model.safetensors").exists() and not (out / "last.pt").exists()
    assert main(["train", *args, "--set", "optim.lr=1e-3", "--resume"]) == 0  # a sane learning rate
    assert read_marker(out)["state"] == "finished"
    assert all(torch.isfinite(v).all() for v in _weights(out / "model.safetensors").values())


def _fill_disk_at(size: int):
    """A ``preexec_fn``: no file of the child may grow past ``size`` bytes; a write beyond fails with EFBIG,
    as a full disk fails with ENOSPC (SIGXFSZ, which would kill the child instead, is ignored)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_leaves_an_unfinished_run_that_resume_finishes(synth, tmp_path, capsys, uninterrupted):
    from litedepth.outputs import read_marker

    out = tmp_path / "run"
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(tiny_config(synth, out).to_dict()))
    args = ["train", "--config", str(tmp_path / "cfg.yaml")]
    assert main([*args, "--set", "train.epochs=1"]) == 0  # the first epoch, as a finished run
    checkpoint = (out / "last.pt").read_bytes()
    size = (len(checkpoint) + (out / "model.safetensors").stat().st_size) // 2  # the next last.pt does not fit
    more = [*args, "--set", "train.epochs=2", "--resume"]
    for _ in range(2):  # the run, and a --resume onto the still full disk
        proc = subprocess.run(
            [sys.executable, "-m", "litedepth", *more],
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=_fill_disk_at(size),
        )
        errors = _error_lines(proc.stderr)
        assert proc.returncode == 2 and len(errors) == 1, proc.stderr
        assert f"{out / 'last.pt'}: no space left on device" in errors[0] and "--resume" in errors[0], errors
        assert "last checkpoint (step 4)" in errors[0]
        assert read_marker(out)["state"] == "training"
        assert (out / "last.pt").read_bytes() == checkpoint and not [p for p in out.iterdir() if ".tmp" in p.name]
    capsys.readouterr()
    assert main(more) == 0
    assert read_marker(out)["state"] == "finished"
    _assert_same(out / "model.safetensors", uninterrupted)
