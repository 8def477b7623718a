"""Benchmark command and inference optimisations (BN folding, channels-last)."""

import json

import pytest
import torch

from conftest import randomise_bn
from litedepth.cli import main
from litedepth.deploy.bench import machine_info
from litedepth.deploy.flops import count_gflops, count_parameters
from litedepth.models import create_model
from litedepth.runtimes.fold_batchnorm import find_conv_bn_pairs, fold_batchnorm, optimize_for_inference


@pytest.mark.parametrize("arch", ["hu2021-student", "hu2021-teacher-r18", "fast-student"])
def test_bn_folding_keeps_outputs(arch):
    model = randomise_bn(create_model(arch, input_size=(64, 96)))
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model)
    assert n_bn > 0 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == n_bn  # original untouched
    x = torch.randn(2, 3, 70, 90)
    with torch.no_grad():
        ref, out = model(x), folded(x)
    assert ref.abs().max() > 1e-2
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_fold_pairs_only_conv_then_bn():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.BatchNorm2d(4),
        torch.nn.Conv2d(4, 4, 1),
        torch.nn.BatchNorm2d(4),
    )
    assert find_conv_bn_pairs(net.eval(), torch.randn(1, 3, 8, 8)) == [("3", "4")]


def test_optimize_for_inference_channels_last_same_output():
    model = randomise_bn(create_model("fast-student", input_size=(64, 96)))
    fast = optimize_for_inference(model, channels_last=True)
    assert fast.arch == "fast-student" and fast.input_size == (64, 96)
    assert fast.metadata["optimized"] == {"bn_folded": True, "channels_last": True}
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        ref, out = model(x), fast(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_flops_of_the_paper_student():
    model = create_model("hu2021-student")
    assert count_parameters(model) == 1_673_905
    assert count_gflops(model, (228, 304)) == pytest.approx(8.04, abs=0.01)  # paper: 4.02 GMACs


def test_fast_student_is_cheaper():
    size = (228, 304)
    assert count_gflops(create_model("fast-student"), size) < count_gflops(create_model("hu2021-student"), size) / 4


def test_machine_info_fields():
    info = machine_info()
    assert info["cpu"] and info["logical_cores"] >= 1 and info["torch"] == torch.__version__


def test_bench_cli_json(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--model",
            "fast-student,hu2021-student",
            "--backend",
            "torch,onnxruntime",
            "--size",
            "64x64",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    assert "images/s" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert {"cpu", "logical_cores", "torch", "onnxruntime"} <= set(result["machine"])
    assert result["settings"]["size"] == [64, 64] and result["settings"]["runs"] == 2
    rows = {(r["model"], r["backend"]) for r in result["results"]}
    assert rows == {
        (m, b) for m in ("fast-student", "hu2021-student") for b in ("torch", "torch-optimised", "onnxruntime")
    }
    for r in result["results"]:
        assert r["params"] > 0 and r["gflops"] > 0 and r["runs"] == 2
        assert 0 < r["latency_ms_min"] <= r["latency_ms_median"] <= r["latency_ms_p90"]
        assert r["images_per_s"] == pytest.approx(1000.0 / r["latency_ms_median"], rel=1e-2)


def test_bench_cli_bad_input(tmp_path, capsys):
    assert main(["bench", "--model", "no-such-net", "--backend", "torch", "--size", "64x64", "--runs", "1"]) == 2
    assert "no-such-net" in capsys.readouterr().err
    assert main(["bench", "--model", "fast-student", "--backend", "tensorrt", "--size", "64x64"]) == 2


@pytest.mark.parametrize("threads", ["-1", "0"])
def test_bench_cli_threads_must_be_positive(threads, capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                "fast-student",
                "--backend",
                "torch",
                "--size",
                "32x32",
                "--runs",
                "1",
                "--threads",
                threads,
            ]
        )
        == 2
    )
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and not captured.out
    assert lines[0].startswith(f"litedepth bench: error: --threads {threads}: must be at least 1")


def test_cpu_isa_names_the_int8_extensions():
    from litedepth.deploy.bench import cpu_isa

    sample = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_int8\nbugs\t\t: none\n"
    assert cpu_isa(sample) == ["AVX2", "AVX-512", "AVX-512 VNNI", "AMX-BF16", "AMX-INT8"]
    assert cpu_isa("flags\t: fpu sse2\n") == []
    assert "isa" in machine_info()


def test_bench_at_one_and_all_threads_side_by_side(tmp_path, capsys):
    import os

    out = tmp_path / "b.json"
    argv = ["bench", "--model", "fast-student", "--backend", "torch-optimised", "--size", "32x32", "--runs", "1"]
    assert main([*argv, "--warmup", "0", "--threads", "1,all", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = [r["threads"] for r in result["results"]]
    assert threads == list(dict.fromkeys([1, usable])) and all(r["precision"] == "fp32" for r in result["results"])
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("machine: ") and "usable cores" in header
    assert main([*argv, "--threads", "1,many"]) == 2
    assert "--threads 1,many: must be at least 1, or all" in capsys.readouterr().err


def test_bench_says_which_backends_failed_when_only_some_did(capsys):
    """ncnn runs batch 1 only (without ncnn installed it fails too): the torch rows finish, the ncnn row fails."""
    argv = ["bench", "--model", "fast-student", "--backend", "torch,ncnn", "--batch", "2", "--size", "32x32"]
    assert main([*argv, "--runs", "1", "--warmup", "0", "--threads", "1"]) == 2
    captured = capsys.readouterr()
    assert "torch-optimised" in captured.out and "images/s" in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert last == "litedepth bench: error: fast-student: 1 of 3 backend(s) failed: ncnn (see the lines above)"
