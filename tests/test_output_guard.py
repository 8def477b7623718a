"""The output guard and one-line errors, across every command.

A shared workspace holds a tiny synthetic dataset, a finished training run, photos, a checkpoint
and the files earlier commands wrote. Each bad command must exit 2 with one line on stderr, no
traceback, and leave every file of the workspace byte-identical.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import litedepth
from conftest import write_image
from litedepth.cli import main
from litedepth.outputs import MARKER, OutputGuard, read_marker
from litedepth.synth.dataset import write_dataset

SIZE = (48, 64)
TINY_TRAIN = [
    "--set",
    "model.arch=fast-student",
    "--set",
    "model.input_size=[48,64]",
    "--set",
    "model.encoder_weights=null",
    "--set",
    "train.epochs=1",
    "--set",
    "train.steps_per_epoch=1",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.device=cpu",
    "--set",
    "train.progress=false",
    "--set",
    "data.workers=0",
    "--set",
    "data.val=null",
    "--set",
    "train.precise_bn_images=0",
]


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(capsys, argv: list) -> tuple[int, str, str]:
    """The CLI in-process: exit code (argparse's SystemExit included), stdout, stderr."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """The workspace: data/ (train + test), photos/, model.safetensors, a finished run and outputs."""
    root = tmp_path_factory.mktemp("ws")
    write_dataset(root / "data", 6, split="train", size=SIZE, progress=False)
    write_dataset(root / "data", 2, split="test", size=SIZE, progress=False)
    write_image(root / "photos" / "a.jpg", seed=1)
    write_image(root / "photos" / "b.png", seed=2)
    (root / "notes.txt").write_text("not an image\n")
    depth = (np.random.default_rng(0).random((40, 56)) * 5000).astype(np.uint16)
    Image.fromarray(depth).save(root / "depth16.png")
    litedepth.save_model(litedepth.create_model("fast-student", input_size=SIZE), root / "model.safetensors")
    (root / "existing.json").write_text("{}\n")
    (root / "a_file").write_text("x\n")
    (root / "foreign").mkdir()
    (root / "foreign" / "keep.txt").write_text("someone else's\n")
    # the files a CSV names (here outside its folder) and a user's ground-truth folder (issue 30, part 1)
    write_image(root / "elsewhere" / "x.png", seed=4)
    Image.fromarray(depth).save(root / "elsewhere" / "x_depth.png")
    (root / "pairs").mkdir()
    (root / "pairs" / "abs.csv").write_text(f"{root / 'elsewhere' / 'x.png'},{root / 'elsewhere' / 'x_depth.png'}\n")
    (root / "gt").mkdir()
    Image.fromarray(depth).save(root / "gt" / "a.png")
    # unlabeled photos beside a corrupt video (issue 31, part 4)
    write_image(root / "clips" / "a.jpg", seed=5)
    (root / "clips" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    # a TFLite teacher without litedepth metadata whose uint8 input takes RGB bytes (issue 31, part 2)
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from test_teacher_files import tflite_mean

        tflite_mean(root / "bytes.tflite")
    # a model whose weights hold NaN, as a diverged run would leave it (issue 30, part 3)
    broken = litedepth.create_model("fast-student", input_size=SIZE)
    broken.state_dict()["E.mv2.0.0.weight"].fill_(float("nan"))  # state-dict tensors share the weights' memory
    litedepth.save_model(broken, root / "nan-model.safetensors")
    # calibration folders that hold no photos, and exported models cut short (issue 30, part 7)
    (root / "empty-calib").mkdir()
    (root / "fake-calib").mkdir()
    (root / "fake-calib" / "x.jpg").write_text("not a JPEG\n")
    (root / "cut.xml").write_text('<?xml version="1.0"?>\n<net name="Model0" version="11">\n\t<layers>\n\t\t<layer')
    (root / "cut.bin").write_bytes(bytes(1000))
    (root / "cut.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(16))  # a flatbuffer's head, nothing after
    code = main(
        [
            "train",
            "--config",
            "synth-teacher",
            "--set",
            f"data.sources.0.path={root / 'data'}",
            "--set",
            f"train.out_dir={root / 'run'}",
            *TINY_TRAIN,
        ]
    )
    assert code == 0 and (root / "run" / "model.safetensors").is_file()
    return root


def test_a_finished_run_is_marked_and_not_trained_over(ws, capsys):
    assert read_marker(ws / "run") == {"kind": "run", "state": "finished"}
    before = snapshot(ws)
    code, _, err = run_cli(
        capsys,
        [
            "train",
            "--config",
            "synth-teacher",
            "--set",
            f"data.sources.0.path={ws / 'data'}",
            "--set",
            f"train.out_dir={ws / 'run'}",
            *TINY_TRAIN,
        ],
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "finished: use --resume to continue or another --out" in err
    assert snapshot(ws) == before


def test_distill_into_its_teachers_folder_is_refused(ws, capsys):
    before = snapshot(ws)
    code, _, err = run_cli(
        capsys,
        [
            "distill",
            "--config",
            "synth-student-kd",
            "--teacher",
            ws / "run" / "model.safetensors",
            "--set",
            f"data.sources.0.path={ws / 'data'}",
            "--set",
            f"data.sources.1.path={ws / 'data'}",
            "--set",
            f"train.out_dir={ws / 'run'}",
            "--overwrite",
            *TINY_TRAIN,
        ],
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "model.safetensors" in err and "the teacher" in err
    assert snapshot(ws) == before


def test_eval_never_writes_into_its_data(ws, capsys):
    before = snapshot(ws)
    for target in (ws / "data", ws / "data" / "data" / "preds"):
        code, _, err = run_cli(
            capsys,
            [
                "eval",
                "--model",
                ws / "model.safetensors",
                "--data",
                ws / "data",
                "--save-predictions",
                target,
                "--overwrite",
                "--no-progress",
            ],
        )
        assert code == 2 and len(err.strip().splitlines()) == 1 and f"the input {ws / 'data'} (--data)" in err, err
    assert snapshot(ws) == before


def test_synth_into_an_existing_dataset_is_refused_and_overwrite_leaves_no_orphans(ws, tmp_path, capsys):
    before = snapshot(ws)
    code, _, err = run_cli(
        capsys, ["synth", "--out", ws / "data", "--n", 2, "--split", "train", "--size", "48x64", "--quiet"]
    )
    assert code == 2 and "already holds a synthetic train split" in err and len(err.strip().splitlines()) == 1
    assert snapshot(ws) == before
    root = tmp_path / "set"
    assert (
        main(
            [
                "synth",
                "--out",
                str(root),
                "--n",
                "8",
                "--split",
                "train",
                "--size",
                "48x64",
                "--views-per-scene",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "synth",
                "--out",
                str(root),
                "--n",
                "2",
                "--split",
                "train",
                "--size",
                "48x64",
                "--views-per-scene",
                "2",
                "--quiet",
                "--overwrite",
            ]
        )
        == 0
    )
    listed = (root / "data" / "nyu2_train.csv").read_text().split()
    images = [p for p in (root / "data" / "nyu2_train").rglob("*") if p.is_file()]
    assert len(listed) == 2 and len(images) == 4  # 2 RGB + 2 depth: the 6 old images are gone
    assert read_marker(root)["kind"] == "synth"


def test_overwrite_replaces_an_earlier_output_of_the_same_kind(ws, tmp_path, capsys):
    photos = tmp_path / "photos"
    write_image(photos / "x.jpg", seed=3)
    write_image(photos / "room" / "y.jpg", seed=4)  # its depth map goes to a subfolder of --out
    out = tmp_path / "depth"
    assert main(["predict", str(photos), "--model", str(ws / "model.safetensors"), "--out", str(out)]) == 0
    first = (out / "x.png").read_bytes()
    code, _, err = run_cli(capsys, ["predict", photos, "--model", ws / "model.safetensors", "--out", out])
    assert code == 2 and "exists; give --overwrite" in err
    assert (
        main(["predict", str(photos), "--model", str(ws / "model.safetensors"), "--out", str(out), "--overwrite"]) == 0
    )
    assert (out / "x.png").read_bytes() == first  # the same model and photo: the same depth, rewritten
    assert (out / "room" / "y.png").is_file()


def test_overwrite_replaces_only_files_that_litedepth_wrote(ws, tmp_path, capsys):
    model, data = ws / "model.safetensors", ws / "data"
    report, onnx = tmp_path / "metrics.json", tmp_path / "m.onnx"
    evaluate = ["eval", "--model", model, "--data", data, "--json", report, "--no-progress"]
    assert run_cli(capsys, evaluate)[0] == 0
    assert json.loads(report.read_text())["written_by"] == "litedepth"
    assert run_cli(capsys, [*evaluate, "--overwrite"])[0] == 0  # its own earlier report
    assert run_cli(capsys, ["export", "--model", model, "--onnx", onnx])[0] == 0
    assert run_cli(capsys, ["export", "--model", model, "--onnx", onnx, "--overwrite"])[0] == 0
    report.write_text(json.dumps({"mine": 1}))  # the user's own file, under the same name
    code, _, err = run_cli(capsys, [*evaluate, "--overwrite"])
    assert code == 2 and "litedepth did not write it" in err
    assert json.loads(report.read_text()) == {"mine": 1}


def test_a_failed_start_leaves_a_new_run_folder_unmade(ws, tmp_path, capsys):
    out = tmp_path / "newrun"
    code, _, err = run_cli(
        capsys,
        [
            "train",
            "--config",
            "synth-teacher",
            "--set",
            f"data.sources.0.path={tmp_path / 'missing'}",
            "--set",
            f"train.out_dir={out}",
            *TINY_TRAIN,
        ],
    )
    assert code == 2 and "missing" in err
    assert not out.exists()


def test_guard_refuses_folders_of_another_kind_even_with_overwrite(ws):
    with pytest.raises(litedepth.errors.LitedepthError, match="files that litedepth did not write"):
        OutputGuard(overwrite=True).folder(ws / "foreign", "--out", kind="run")
    with pytest.raises(litedepth.errors.LitedepthError, match="a litedepth synth folder"):
        OutputGuard(overwrite=True).folder(ws / "data", "--out", kind="run")
    assert (ws / "data" / MARKER).is_file()


def test_the_files_a_list_names_are_inputs_wherever_they_lie(tmp_path):
    from litedepth.data.listed import listed_files

    photo = write_image(tmp_path / "shots" / "p.jpg")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "images.txt").write_text("# unlabeled photos\n../shots/p.jpg\n")
    (tmp_path / "link.json").symlink_to(photo)
    guard = OutputGuard(overwrite=True)
    guard.add_listed(listed_files(tmp_path / "lists" / "images.txt"), "data.sources.1")
    for target in (photo, tmp_path / "shots" / ".." / "shots" / "p.jpg", tmp_path / "link.json"):
        with pytest.raises(litedepth.errors.LitedepthError, match=r"named by .*images.txt, data.sources.1"):
            guard.file(target, "--json")
    with pytest.raises(litedepth.errors.LitedepthError, match="holds .*p.jpg, an input of this command"):
        guard.folder(tmp_path / "shots", "--out", kind="predict")
    assert guard.file(tmp_path / "shots" / "q.json", "--json") == tmp_path / "shots" / "q.json"  # not named
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["images.txt", "link.json", "lists", "p.jpg", "shots"]


def bad_inputs(ws: Path) -> list[tuple[str, list]]:
    """(what, argv) of commands that must each fail with one line and change nothing."""
    model, data, photos = ws / "model.safetensors", ws / "data", ws / "photos"
    train = ["--set", f"data.sources.0.path={data}", *TINY_TRAIN]
    out = ws / "new-out"  # never made: every case fails before writing
    nyu_csv, nyu_test, abs_csv = data / "data" / "nyu2_test.csv", data / "data" / "nyu2_test", ws / "pairs" / "abs.csv"
    cases = [
        ("predict: no such file", ["predict", ws / "nope.jpg", "--model", model, "--out", out]),
        ("predict: not an image", ["predict", ws / "notes.txt", "--model", model, "--out", out]),
        ("predict: a depth map", ["predict", ws / "depth16.png", "--model", model, "--out", out]),
        ("predict: --save bad", ["predict", photos, "--model", model, "--out", out, "--save", "jpeg"]),
        ("predict: --batch-size 0", ["predict", photos, "--model", model, "--out", out, "--batch-size", 0]),
        ("predict: --focal -1", ["predict", photos, "--model", model, "--out", out, "--focal", -1]),
        ("predict: --focal abc", ["predict", photos, "--model", model, "--out", out, "--focal", "abc"]),
        ("predict: --out a file", ["predict", photos, "--model", model, "--out", ws / "a_file"]),
        ("predict: --out its inputs", ["predict", photos, "--model", model, "--out", photos, "--save", "png16"]),
        ("predict: missing model", ["predict", photos, "--model", ws / "nope.safetensors", "--out", out]),
        ("predict: unknown architecture", ["predict", photos, "--model", "no-such-arch", "--out", out]),
        ("predict: --device cuda:7", ["predict", photos, "--model", model, "--out", out, "--device", "cuda:7"]),
        ("predict: --device bogus", ["predict", photos, "--model", model, "--out", out, "--device", "bogus"]),
        (
            "predict: --ply-stride 0",
            ["predict", photos, "--model", model, "--out", out, "--save", "ply", "--ply-stride", 0],
        ),
        (
            "predict: --cmap bogus",
            ["predict", photos, "--model", model, "--out", out, "--save", "color", "--cmap", "nocmap"],
        ),
        ("predict: unknown option", ["predict", photos, "--model", model, "--out", out, "--colour"]),
        ("predict: --backend bogus", ["predict", photos, "--model", model, "--out", out, "--backend", "tensorrt"]),
        ("eval: no such data", ["eval", "--model", model, "--data", ws / "nope"]),
        ("eval: predictions into the data", ["eval", "--model", model, "--data", data, "--save-predictions", data]),
        (
            "eval: predictions inside the data",
            ["eval", "--model", model, "--data", data, "--save-predictions", data / "data" / "p"],
        ),
        (
            "eval: --json onto the CSV",
            ["eval", "--model", model, "--data", data, "--json", data / "data" / "nyu2_test.csv", "--overwrite"],
        ),
        (
            "eval: --per-image onto ground truth",
            [
                "eval",
                "--model",
                model,
                "--data",
                data,
                "--overwrite",
                "--per-image",
                data / "data" / "nyu2_test" / "00000_depth.png",
            ],
        ),
        ("eval: --json exists", ["eval", "--model", model, "--data", data, "--json", ws / "existing.json"]),
        ("eval: --json a folder", ["eval", "--model", model, "--data", data, "--json", ws / "foreign", "--overwrite"]),
        (
            "eval: predictions into a foreign folder",
            ["eval", "--model", model, "--data", data, "--save-predictions", ws / "foreign"],
        ),
        ("eval: --batch-size 0", ["eval", "--model", model, "--data", data, "--batch-size", 0]),
        ("eval: --depth-scale -1", ["eval", "--model", model, "--data", data, "--depth-scale", -1]),
        ("eval: --protocol bogus", ["eval", "--model", model, "--data", data, "--protocol", "mine"]),
        ("eval: the model is the data", ["eval", "--model", data / "data" / "nyu2_test.csv", "--data", data]),
        ("train: no such config", ["train", "--config", ws / "nope.yaml"]),
        ("train: unknown key", ["train", "--config", "synth-teacher", "--set", "train.epochz=1"]),
        ("train: --set without =", ["train", "--config", "synth-teacher", "--set", "train.epochs"]),
        (
            "train: train.device=cuda:7",
            [
                "train",
                "--config",
                "synth-teacher",
                *train,
                "--set",
                "train.device=cuda:7",
                "--set",
                f"train.out_dir={out}",
            ],
        ),
        (
            "train: missing data",
            [
                "train",
                "--config",
                "synth-teacher",
                *TINY_TRAIN,
                "--set",
                f"data.sources.0.path={ws / 'nope'}",
                "--set",
                f"train.out_dir={out}",
            ],
        ),
        (
            "train: over a finished run",
            ["train", "--config", "synth-teacher", *train, "--set", f"train.out_dir={ws / 'run'}"],
        ),
        (
            "train: into its data",
            ["train", "--config", "synth-teacher", *train, "--set", f"train.out_dir={data}", "--overwrite"],
        ),
        (
            "train: into a foreign folder",
            ["train", "--config", "synth-teacher", *train, "--set", f"train.out_dir={ws / 'foreign'}"],
        ),
        (
            "train: out_dir is a file",
            ["train", "--config", "synth-teacher", *train, "--set", f"train.out_dir={ws / 'a_file'}"],
        ),
        ("train: sets a teacher", ["train", "--config", "synth-student-kd", *train, "--set", f"train.out_dir={out}"]),
        (
            "distill: missing teacher",
            [
                "distill",
                "--config",
                "synth-student-kd",
                *train,
                "--teacher",
                ws / "nope.safetensors",
                "--set",
                f"data.sources.1.path={data}",
                "--set",
                f"train.out_dir={out}",
            ],
        ),
        (
            "distill: into the teacher's run",
            [
                "distill",
                "--config",
                "synth-student-kd",
                *train,
                "--teacher",
                ws / "run" / "model.safetensors",
                "--set",
                f"data.sources.1.path={data}",
                "--set",
                f"train.out_dir={ws / 'run'}",
            ],
        ),
        (
            "synth: into an existing split",
            ["synth", "--out", data, "--n", 2, "--split", "test", "--size", "48x64", "--quiet"],
        ),
        ("synth: into a foreign folder", ["synth", "--out", ws / "foreign", "--n", 2, "--quiet", "--overwrite"]),
        ("synth: --n 0", ["synth", "--out", out, "--n", 0]),
        ("synth: --size 3x3", ["synth", "--out", out, "--n", 1, "--size", "3x3"]),
        ("synth: --preset bogus", ["synth", "--out", out, "--n", 1, "--preset", "moon"]),
        ("synth: --out a file", ["synth", "--out", ws / "a_file", "--n", 1]),
        ("synth: --holes 2", ["synth", "--out", out, "--n", 1, "--holes", 2]),
        ("export: not .onnx", ["export", "--model", model, "--onnx", out / "m.txt"]),
        ("export: --int8 without calibration", ["export", "--model", model, "--onnx", out / "m.onnx", "--int8"]),
        ("export: onto an existing file", ["export", "--model", model, "--onnx", ws / "existing.onnx"]),
        (
            "export: onto the calibration set",
            ["export", "--model", model, "--onnx", photos / "m.onnx", "--int8", "--calibration", photos],
        ),
        ("export: missing model", ["export", "--model", ws / "nope.safetensors", "--onnx", out / "m.onnx"]),
        ("convert: missing input", ["convert", ws / "nope.pt", "--out", out / "m.safetensors"]),
        ("convert: not .safetensors", ["convert", ws / "nope.pt", "--out", out / "m.pt"]),
        ("convert: onto an existing file", ["convert", model, "--out", model, "--overwrite"]),
        ("bench: --threads 0", ["bench", "--model", "fast-student", "--threads", 0]),
        (
            "bench: --json a folder",
            ["bench", "--model", "fast-student", "--backend", "torch", "--json", ws / "foreign", "--runs", 1],
        ),
        (
            "bench: --json exists",
            ["bench", "--model", "fast-student", "--backend", "torch", "--json", ws / "existing.json", "--runs", 1],
        ),
        ("reproduce: --out a file", ["reproduce", "--preset", "smoke", "--out", ws / "a_file"]),
        ("reproduce: --preset bogus", ["reproduce", "--preset", "huge", "--out", out]),
        ("reproduce: report on nothing", ["reproduce", "--preset", "smoke", "--out", out, "--report-only"]),
        ("reproduce: into a foreign folder", ["reproduce", "--preset", "smoke", "--out", ws / "foreign"]),
        ("reproduce: --seeds x", ["reproduce", "--preset", "smoke", "--out", out, "--seeds", "x"]),
        ("reproduce: --jobs 0", ["reproduce", "--preset", "smoke", "--out", out, "--jobs", 0]),
        ("info: missing model", ["info", "--model", ws / "nope.safetensors"]),
        ("info: not a model", ["info", "--model", ws / "notes.txt"]),
        ("serve: --port 0", ["serve", "--model", model, "--port", 0]),
        # the guard knows every input: the files a CSV names, and predict's folder (issue 30, part 1)
        (
            "eval: --json onto a photo its CSV names",
            ["eval", "--model", model, "--data", nyu_csv, "--json", nyu_test / "00001_colors.png", "--overwrite"],
        ),
        (
            "eval: --per-image onto ground truth its CSV names",
            ["eval", "--model", model, "--data", nyu_csv, "--per-image", nyu_test / "00000_depth.png", "--overwrite"],
        ),
        (
            "eval: --json onto a photo a CSV names by its absolute path",
            ["eval", "--model", model, "--data", abs_csv, "--json", ws / "elsewhere" / "x.png", "--overwrite"],
        ),
        (
            "eval: --per-image onto ground truth a CSV names by its absolute path",
            [
                "eval",
                "--model",
                model,
                "--data",
                abs_csv,
                "--per-image",
                ws / "elsewhere" / "x_depth.png",
                "--overwrite",
            ],
        ),
        (
            "eval: predictions into a folder holding files its CSV names",
            ["eval", "--model", model, "--data", abs_csv, "--save-predictions", ws / "elsewhere", "--overwrite"],
        ),
        (
            "train: into a folder holding files its CSV names",
            [
                "train",
                "--config",
                "synth-teacher",
                *TINY_TRAIN,
                "--set",
                f"data.sources.0.path={abs_csv}",
                "--set",
                f"train.out_dir={ws / 'elsewhere'}",
                "--overwrite",
            ],
        ),
        ("predict: --out a folder of the user's files", ["predict", photos, "--model", model, "--out", ws / "gt"]),
        (
            "predict: --out a folder of the user's files, --overwrite",
            ["predict", photos, "--model", model, "--out", ws / "gt", "--overwrite"],
        ),
        # videos as unlabeled images (issue 31, part 4)
        *(
            (
                f"distill: {what}",
                [
                    "distill",
                    "--config",
                    "synth-student-kd",
                    *train,
                    "--teacher",
                    model,
                    "--set",
                    f"data.sources.1.path={source}",
                    *extra,
                    "--set",
                    f"train.out_dir={out}",
                ],
            )
            for what, source, extra in (
                ("a corrupt video among the unlabeled photos", ws / "clips", []),
                ("data.sources.1.frame_interval 0", photos, ["--set", "data.sources.1.frame_interval=0"]),
            )
        ),
        # contradictory alignment and export options, serve's upload limit (issue 30, parts 5 and 6)
        ("eval: --align-space without --align", ["eval", "--model", model, "--data", data, "--align-space", "depth"]),
        (
            "eval: --align-space with --align none",
            ["eval", "--model", model, "--data", data, "--align", "none", "--align-space", "disparity"],
        ),
        (
            "export: --calibration without --int8",
            ["export", "--model", model, "--onnx", out / "m.onnx", "--calibration", photos],
        ),
        ("serve: --max-file-size lots", ["serve", "--model", model, "--max-file-size", "lots"]),
        ("serve: --max-file-size 1.5", ["serve", "--model", model, "--max-file-size", "1.5"]),
        # config values out of range, and a model with NaN weights (issue 30, part 3)
        *(
            (
                f"train: {setting}",
                ["train", "--config", "synth-teacher", *train, "--set", setting, "--set", f"train.out_dir={out}"],
            )
            for setting in (
                "optim.lr=nan",
                "optim.lr=inf",
                "optim.lr=-1",
                "loss.depth=-1",
                "schedule.gamma=nan",
                "schedule.gamma=2",
                "schedule.kind=stepwise",
            )
        ),
        ("predict: NaN weights", ["predict", photos, "--model", ws / "nan-model.safetensors", "--out", out]),
        ("eval: NaN weights", ["eval", "--model", ws / "nan-model.safetensors", "--data", data]),
        ("export: NaN weights", ["export", "--model", ws / "nan-model.safetensors", "--onnx", out / "m.onnx"]),
        ("info: NaN weights", ["info", ws / "nan-model.safetensors"]),
        # fastdepth:NAME (FastDepth's published weights by name)
        ("predict: fastdepth:kitti", ["predict", photos, "--model", "fastdepth:kitti", "--out", out]),
        (
            "eval: fastdepth:nyu as a hu2021-student",
            ["eval", "--model", "fastdepth:nyu", "--arch", "hu2021-student", "--data", data],
        ),
        # teacher conventions: names, scales, and what a teacher file says of itself (issue 31, part 2)
        *(
            (
                f"distill: {what}",
                ["distill", "--config", "synth-student-kd", *train, "--teacher", teacher, *extra]
                + ["--set", f"data.sources.1.path={photos}", "--set", f"train.out_dir={out}"],
            )
            for what, teacher, extra in (
                ("--teacher-input rgb256", model, ["--teacher-input", "rgb256"]),
                ("--teacher-output metrik", model, ["--teacher-output", "metrik"]),
                ("--teacher-shorter-side 0", model, ["--teacher-shorter-side", 0]),
                ("--teacher-multiple x", model, ["--teacher-multiple", "x"]),
                ("distill.teacher_scales=[0]", model, ["--set", "distill.teacher_scales=[0]"]),
                ("a litedepth teacher declared rgb255", model, ["--teacher-input", "rgb255"]),
                ("a litedepth teacher declared relative", model, ["--teacher-output", "relative"]),
                ("a uint8 TFLite teacher declared imagenet", ws / "bytes.tflite", ["--teacher-input", "imagenet"]),
            )
        ),
        # one line a user can act on: calibration checked before any file is written, cut models, no abbreviations
        # (issue 30, part 7)
        *(
            (
                f"export: {what}",
                ["export", "--model", model, "--onnx", out / "m.onnx", "--int8", "--calibration", calibration, *extra],
            )
            for what, calibration, extra in (
                ("--calibration-images 0", photos, ["--calibration-images", 0]),
                ("an empty calibration folder", ws / "empty-calib", []),
                ("a calibration folder of non-images", ws / "foreign", []),
                ("a calibration folder of files that are not images", ws / "fake-calib", []),
                ("a calibration file, not a folder", photos / "a.jpg", []),
                ("a missing calibration folder", ws / "nope", []),
            )
        ),
        ("predict: a truncated OpenVINO IR", ["predict", photos, "--model", ws / "cut.xml", "--out", out]),
        ("predict: a truncated .tflite", ["predict", photos, "--model", ws / "cut.tflite", "--out", out]),
        ("reproduce: --teacher-im, a prefix", ["reproduce", "--preset", "smoke", "--out", out, "--teacher-im", 5]),
        ("eval: --jso, a prefix", ["eval", "--model", model, "--data", data, "--jso", ws / "m.json"]),
        ("predict: --mod, a prefix", ["predict", photos, "--mod", model, "--out", out]),
        ("bench: --thread, a prefix", ["bench", "--model", "fast-student", "--thread", 1]),
        # reproduce --preset real: its inputs, checked before anything is written (issue 31, part 6)
        *(
            (f"reproduce real: {what}", ["reproduce", "--preset", "real-smoke", "--out", out, *extra])
            for what, extra in (
                ("no --teacher", ["--unlabeled", photos]),
                ("no --unlabeled", ["--teacher", model]),
                ("--unlabeled a file", ["--teacher", model, "--unlabeled", photos / "a.jpg"]),
                ("--teacher missing", ["--teacher", ws / "nope.tflite", "--unlabeled", photos]),
                ("--teacher-input bogus", ["--teacher", model, "--unlabeled", photos, "--teacher-input", "rgb256"]),
                (
                    "--real-pairs not a data set",
                    ["--teacher", model, "--unlabeled", photos, "--real-pairs", ws / "foreign"],
                ),
                ("--real-pairs missing", ["--teacher", model, "--unlabeled", photos, "--real-pairs", ws / "nope"]),
                ("--pair-groups bad", ["--teacher", model, "--unlabeled", photos, "--pair-groups", "nyu=0-3"]),
                ("--runs bogus", ["--teacher", model, "--unlabeled", photos, "--runs", "real_kd,N_t_X"]),
                ("--out its photos", ["--teacher", model, "--unlabeled", photos, "--out", photos]),
            )
        ),
        (
            "reproduce: --unlabeled for the quick preset",
            ["reproduce", "--preset", "quick", "--out", out, "--unlabeled", photos],
        ),
        # synthetic room styles (issue 31, part 5)
        ("synth: --style bogus", ["synth", "--out", out, "--n", 1, "--style", "moon"]),
        ("synth: --style with a bogus effect", ["synth", "--out", out, "--n", 1, "--style", "camera+moon"]),
        # --overwrite replaces only what litedepth wrote (issue 30, part 1)
        (
            "eval: --json onto a user's file, --overwrite",
            ["eval", "--model", model, "--data", data, "--json", ws / "existing.json", "--overwrite"],
        ),
        (
            "eval: --per-image onto a user's file, --overwrite",
            ["eval", "--model", model, "--data", data, "--per-image", ws / "notes.txt", "--overwrite"],
        ),
        (
            "export: onto a user's file, --overwrite",
            ["export", "--model", model, "--onnx", ws / "existing.onnx", "--overwrite"],
        ),
        (
            "bench: --json onto a user's file, --overwrite",
            ["bench", "--model", "fast-student", "--backend", "torch", "--json", ws / "existing.json", "--overwrite"],
        ),
        ("no such command", ["frobnicate"]),
    ]
    return cases


CASE_NAMES = [name for name, _ in bad_inputs(Path("/ws"))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_changes_nothing(ws, capsys, name):
    (ws / "existing.onnx").write_bytes(b"an earlier export\n")
    argv = dict(bad_inputs(ws))[name]
    before = snapshot(ws)
    code, _, err = run_cli(capsys, argv)
    assert code == 2, (name, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith("litedepth"), (name, err)
    assert snapshot(ws) == before, name
    assert not (ws / "new-out").exists(), name


def test_the_table_covers_every_command_that_writes():
    commands = {argv[0] for _, argv in bad_inputs(Path("/ws"))}
    assert {
        "predict",
        "eval",
        "train",
        "distill",
        "synth",
        "export",
        "convert",
        "bench",
        "reproduce",
        "info",
        "serve",
    } <= commands
    assert len(CASE_NAMES) >= 40 and len(set(CASE_NAMES)) == len(CASE_NAMES)


def test_an_os_error_is_one_line(ws, tmp_path, capsys):
    """What the system refuses (here: a file name longer than the filesystem allows) is one line naming the path."""
    long_name = tmp_path / ("x" * 300 + ".json")
    code, _, err = run_cli(
        capsys,
        [
            "bench",
            "--model",
            "fast-student",
            "--backend",
            "torch",
            "--runs",
            1,
            "--warmup",
            0,
            "--size",
            "32x32",
            "--json",
            long_name,
        ],
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "x" * 300 in err and not list(tmp_path.iterdir())


def test_busy_port_is_refused_before_serving(ws, capsys):
    pytest.importorskip("gradio")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, out, err = run_cli(capsys, ["serve", "--model", ws / "model.safetensors", "--port", port])
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(port) in err
    assert "http" not in out
