import dataclasses
import json

import pytest

from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.study.presets import PAPER_TABLE, RUNS, STUDY_PRESETS
from litedepth.study.report import findings, findings_markdown, summarise
from litedepth.study.reproduce import order_runs, reproduce, run_config

ALL_RUNS = PAPER_TABLE + ("N_s_Um_unlabel", "P_s_X_U_unlabel", "S_s_X_no_KD", "S_s_X_U_unlabel")


def tiny(preset_name="quick", **changes):
    # encoder_weights=None: the suite runs without the [imagenet] extra too
    base = dict(
        image_size=(60, 80),
        input_size=(48, 64),
        n_train=6,
        n_aux=6,
        n_test=3,
        teacher_images=6,
        student_images=6,
        batch_size=3,
        workers=0,
        threads=1,
        mismatch_preset="hall",
        runs=ALL_RUNS,
        latency_size=(48, 64),
        encoder_weights=None,
    )
    base.update(changes)
    return dataclasses.replace(STUDY_PRESETS[preset_name], **base)


def test_every_configuration_runs_and_resume_skips(tmp_path):
    out = tmp_path / "study"
    payload = reproduce(tiny(), out)
    names = [c["name"] for c in payload["configurations"]]
    assert set(names) == set(ALL_RUNS) | {"constant", "row_ramp"}
    for name in ("results.md", "results.json", "para_accu.png", "samples.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "results.json").read_text())
    row = next(r for r in saved["configurations"] if r["name"] == "N_s_X_U_unlabel")
    assert row["arch"] == "lite0-student" and row["params"] == 3_247_537 and row["encoder_init"] == "scratch"
    archs = {c["name"]: c["arch"] for c in payload["configurations"]}
    assert (archs["N_t_X"], archs["P_s_X_U_unlabel"], archs["S_s_X_no_KD"]) == (
        "lite2-teacher",
        "lite0-student-paper",
        "hu2021-student",
    )
    assert 0.0 <= row["delta1"] <= 1.0 and row["rmse"] > 0
    assert row["latency_ms"] > 0 and row["gflops"] > 0
    assert "not NYU-v2" in saved["data_label"]
    # One seed: every finding is listed, none is decided.
    assert {(f["better"], f["worse"]) for f in saved["findings"]} == {
        ("N_t_X", "N_s_X_no_KD"),
        ("N_s_X_U_unlabel", "N_s_X_no_KD"),
        ("N_s_U_unlabel", "N_s_Um_unlabel"),
        ("N_s_X_U_label", "N_s_X_U_label_no_KD"),
        ("S_s_X_U_unlabel", "S_s_X_no_KD"),
        ("N_s_X_U_unlabel", "P_s_X_U_unlabel"),
    }
    assert all(f["verdict"].startswith("not decided") for f in saved["findings"] if "rmse_ratio" not in f)
    assert "## Findings" in (out / "results.md").read_text()
    # Each student distilled from the teacher its configuration names.
    model_meta = json.loads((out / "runs" / "N_s_X_U_label" / "seed0" / "result.json").read_text())
    assert model_meta["teacher"] == "N_t_X_U_label"
    scratch_kd = json.loads((out / "runs" / "S_s_X_U_unlabel" / "seed0" / "result.json").read_text())
    assert (scratch_kd["arch"], scratch_kd["teacher"], scratch_kd["encoder_init"]) == (
        "hu2021-student",
        "N_t_X",
        "scratch",
    )
    # A re-run trains nothing: every result is read back.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/model.safetensors")}
    again = reproduce(tiny(), out)
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/model.safetensors")} == stamps
    assert again["runs"] == payload["runs"]
    assert json.loads((out / "results.json").read_text())["runs"] == saved["runs"]


def seed_rows(name, delta1s, rmse=1.0, arch="a"):
    return [
        {
            "name": name,
            "arch": arch,
            "params": 1,
            "gflops": 1.0,
            "seed": seed,
            "train_seconds": 1.0,
            "rmse": rmse,
            "abs_rel": 0.1,
            "log10": 0.1,
            "delta1": d,
            "delta2": d,
            "delta3": d,
        }
        for seed, d in enumerate(delta1s)
    ]


def test_findings_count_only_differences_beyond_the_spread():
    rows = (
        seed_rows("N_t_X", [0.60, 0.62, 0.64])
        + seed_rows("N_s_X_no_KD", [0.50, 0.52, 0.54])
        + seed_rows("N_s_X_U_unlabel", [0.50, 0.56, 0.62])  # +0.04, spread 0.08: unresolved
        + seed_rows("N_s_U_unlabel", [0.40, 0.40, 0.40])
        + seed_rows("N_s_Um_unlabel", [0.50, 0.51, 0.52])
        + seed_rows("F_s_X_U_unlabel", [0.55, 0.56, 0.57], rmse=1.029, arch="fast")
    )
    verdicts = {f["better"]: f for f in findings(summarise(rows))}
    assert verdicts["N_t_X"]["verdict"] == "reproduced"
    assert abs(verdicts["N_t_X"]["delta1_difference"] - 0.10) < 1e-9 and abs(verdicts["N_t_X"]["spread"] - 0.04) < 1e-9
    assert verdicts["N_s_X_U_unlabel"]["verdict"].startswith("not resolved")
    assert verdicts["N_s_U_unlabel"]["verdict"] == "contradicted"
    assert "N_s_X_U_label" not in verdicts  # configurations not run are left out
    assert verdicts["F_s_X_U_unlabel"]["verdict"] == "met"  # delta1 equal, RMSE 2.9% higher
    slow = findings(summarise(rows[:-3] + seed_rows("F_s_X_U_unlabel", [0.53, 0.54, 0.55], arch="fast")))
    assert slow[-1]["verdict"] == "not met"  # 0.02 delta1 below
    # lite0-student (N_s_*) against the same network with the paper's decoder (P_s_*)
    lite = findings(summarise(rows[:-3] + seed_rows("P_s_X_U_unlabel", [0.50, 0.56, 0.62], rmse=0.97, arch="paper")))
    assert lite[-1]["better"] == "N_s_X_U_unlabel" and lite[-1]["verdict"] == "not met"  # RMSE 3.1% higher
    same_arch = findings(summarise(rows[:-3] + seed_rows("F_s_X_U_unlabel", [0.1, 0.1, 0.1])))
    assert all("rmse_ratio" not in f for f in same_arch)  # one network against itself is no parity check
    assert "**reproduced**" in findings_markdown(findings(summarise(rows)))


def test_baselines_score_what_they_predict(tmp_path):
    import torch

    from litedepth.evaluation.loop import evaluate
    from litedepth.study.baselines import ConstantDepth, baseline_rows
    from litedepth.study.reproduce import prepare_data

    preset = tiny()
    sets = prepare_data(preset, tmp_path)
    rows = {r["name"]: r for r in baseline_rows(preset, sets)}
    assert set(rows) == {"constant", "row_ramp"}
    # The constant baseline is the training median: any other constant scores a worse abs_rel or rmse.
    worse = evaluate(ConstantDepth(rows["constant"]["rmse"] * 3, preset.input_size), sets["X"], progress=False).metrics
    assert worse["rmse"] > rows["constant"]["rmse"]
    # Median-aligned, the scale is forgiven: any constant scores what the training median scores.
    aligned = {r["name"]: r for r in baseline_rows(preset, sets, align="median")}
    tripled = ConstantDepth(rows["constant"]["rmse"] * 3, preset.input_size)
    tripled_aligned = evaluate(tripled, sets["X"], progress=False, align="median").metrics
    assert tripled_aligned["rmse"] == pytest.approx(aligned["constant"]["rmse"], rel=1e-5)
    assert tripled_aligned["delta1"] == pytest.approx(aligned["constant"]["delta1"])
    assert ConstantDepth(2.0, (4, 6))(torch.zeros(2, 3, 4, 6)).unique().tolist() == [2.0]


def test_training_budget_is_equal_in_images_seen(tmp_path):
    preset = tiny(teacher_images=24, student_images=12)
    from litedepth.study.reproduce import prepare_data

    sets = prepare_data(preset, tmp_path)
    x_only = run_config(RUNS["N_s_X_no_KD"], 0, preset, sets, tmp_path)  # 6 images
    x_and_u = run_config(RUNS["N_s_X_U_label_no_KD"], 0, preset, sets, tmp_path)  # 12 images
    teacher = run_config(RUNS["N_t_X"], 0, preset, sets, tmp_path)
    assert (x_only.train.epochs, x_and_u.train.epochs, teacher.train.epochs) == (2, 1, 4)
    # batch 3: images seen = epochs * min(steps in an epoch, steps_per_epoch) * 3
    assert (x_only.train.steps_per_epoch, x_and_u.train.steps_per_epoch, teacher.train.steps_per_epoch) == (2, 4, 2)
    budget = run_config(RUNS["N_s_X_U_label_no_KD"], 0, dataclasses.replace(preset, student_images=7), sets, tmp_path)
    assert (budget.train.epochs, budget.train.steps_per_epoch) == (1, 3)
    assert [s.role for s in run_config(RUNS["N_s_X_U_unlabel"], 0, preset, sets, tmp_path).data.sources] == [
        "labeled",
        "unlabeled",
    ]
    # the presets' teacher teaches on labeled data too; a preset that keeps it to unlabeled data still
    # distils on labeled data in KD runs that have nothing else
    for teach_labeled, expected in ((True, True), (False, False)):
        changed = dataclasses.replace(preset, teach_labeled=teach_labeled)
        teaches = {
            name: run_config(RUNS[name], 0, changed, sets, tmp_path, teacher="t.safetensors").distill.teach_labeled
            for name in ("N_s_X_U_unlabel", "N_s_X", "N_s_X_U_label")
        }
        assert teaches == {"N_s_X_U_unlabel": expected, "N_s_X": True, "N_s_X_U_label": True}
    assert run_config(RUNS["N_s_X_U_unlabel"], 0, preset, sets, tmp_path).loss.kd == "l1"


def test_teachers_come_before_their_students():
    order = [s.name for s in order_runs(("N_s_X_U_label", "N_s_X"))]
    assert order.index("N_t_X") < order.index("N_s_X")
    assert order.index("N_t_X_U_label") < order.index("N_s_X_U_label")


def test_paper_preset_wiring_on_nyu_layout(tmp_path):
    # The paper preset reads real data by path; the same layout, generated tiny, goes through it.
    from litedepth.synth.dataset import write_dataset

    nyu, scannet = tmp_path / "nyu", tmp_path / "scannet"
    write_dataset(nyu, 6, split="train", size=(60, 80), progress=False)
    write_dataset(nyu, 3, split="test", size=(60, 80), progress=False)
    write_dataset(scannet, 6, split="train", preset="scannet", size=(60, 80), progress=False)
    preset = dataclasses.replace(
        STUDY_PRESETS["paper"],
        input_size=(48, 64),
        epochs=1,
        batch_size=3,
        workers=0,
        threads=1,
        latency_size=(48, 64),
        runs=("N_s_X_U_unlabel",),
    )
    payload = reproduce(preset, tmp_path / "out", data_root=str(nyu), aux_root=str(scannet))
    assert [c["name"] for c in payload["configurations"]] == ["N_t_X", "N_s_X_U_unlabel"]
    assert payload["data_label"].startswith("NYU-v2")


def test_cli_errors(tmp_path, capsys):
    assert main(["reproduce", "--preset", "nope", "--out", str(tmp_path)]) == 2
    assert "--preset 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "paper", "--out", str(tmp_path)]) == 2
    assert "--data-root" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "quick", "--runs", "N_s_bogus", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "--preset", "quick", "--student-images", "0", "--out", str(tmp_path)]) == 2
    assert "--student-images 0: must be at least 1" in capsys.readouterr().err


def test_report_only_trains_nothing_and_lists_what_is_missing(tmp_path):
    out = tmp_path / "study"
    reproduce(tiny(runs=("N_s_X_no_KD",)), out)
    payload = reproduce(tiny(runs=("N_t_X", "N_s_X_no_KD")), out, train=False)
    assert [c["name"] for c in payload["configurations"]] == ["N_s_X_no_KD", "constant", "row_ramp"]
    assert payload["not_trained"] == ["N_t_X seed 0"] and not (out / "runs" / "N_t_X").exists()
    assert "Not trained, left out of this table: N_t_X seed 0." in (out / "results.md").read_text()


def test_finished_runs_of_another_budget_are_not_mixed_in(tmp_path, capsys):
    out = tmp_path / "study"
    reproduce(tiny(runs=("N_s_X_no_KD",)), out)
    first = (out / "results.json").read_text()
    with pytest.raises(LitedepthError, match="another budget"):
        reproduce(tiny(runs=("N_s_X_no_KD",), student_images=12), out)
    assert (out / "results.json").read_text() == first
    # the same through the command line, the budget set by --student-images (smoke: batch 4, X has 8 images)
    cli_out = tmp_path / "smoke"
    base = ["reproduce", "--preset", "smoke", "--runs", "N_s_X_no_KD", "--out", str(cli_out)]
    assert main(base + ["--student-images", "8"]) == 0
    saved = (cli_out / "runs" / "N_s_X_no_KD" / "seed0" / "config.yaml").read_text()
    assert "epochs: 1," in saved and "steps_per_epoch: 2," in saved
    capsys.readouterr()
    assert main(base) == 2  # the preset's 16 images
    err = capsys.readouterr().err
    assert "N_s_X_no_KD/seed0: trained for 1 epochs of 2 steps of 4, this study asks for 2 epochs" in err
    assert "give another --out" in err
