"""The real preset (`litedepth.study.real`): students for real photos, scored per source on real pairs.

Everything here is made by the tests: a tiny litedepth teacher, a few photos of any shape and a few
RGB-D pairs in the NYU test layout whose file names say their source.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import litedepth
from conftest import write_image
from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.study.baselines import ConstantDepth
from litedepth.study.presets import REAL_PRESETS
from litedepth.study.real import group_of_name, parse_groups, score
from litedepth.study.report import compare, real_markdown, summarise_real


def write_pairs(root, names=("nyu_00000", "nyu_00001", "tum_00002")):
    """Real-looking pairs in the NYU test layout: RGB PNG + 16-bit depth PNG in mm, one row each."""
    rng = np.random.default_rng(0)
    rows = []
    for i, name in enumerate(names):
        rgb, depth = f"data/nyu2_test/{name}_colors.png", f"data/nyu2_test/{name}_depth.png"
        write_image(root / rgb, seed=10 + i, size=(60, 80))
        ramp = np.linspace(1000, 4000, 60)[:, None] * (1 + 0.1 * rng.random((60, 80)))  # 1-4.4 m, mm
        Image.fromarray(ramp.astype(np.uint16)).save(root / depth)
        rows.append(f"{rgb},{depth}\n")
    (root / "data" / "nyu2_test.csv").write_text("".join(rows))
    return root


def test_groups_by_row_rule_and_by_file_name():
    assert parse_groups("nyu:0-1, sun:3") == {0: "nyu", 1: "nyu", 3: "sun"}
    assert parse_groups(None) == {}
    assert group_of_name("data/nyu2_test/tum_00002_depth.png") == "tum"
    assert group_of_name("data/nyu2_test/00002_depth.png") == "all"
    with pytest.raises(LitedepthError, match="--pair-groups"):
        parse_groups("nyu=0-3")


def test_score_is_per_source_raw_and_median_aligned(tmp_path):
    pairs = write_pairs(tmp_path / "pairs")
    result = score(ConstantDepth(20.0, (48, 64)), str(pairs), parse_groups("lab:2"))
    assert result["n_images"] == 3
    # a constant 20 m is never within 25% of 1-4.4 m; scaled to each image's median it often is
    assert result["delta1"] == 0.0 and 0.2 < result["delta1_aligned"] < 1.0
    groups = result["per_source"]
    assert {g: info["rows"] for g, info in groups.items()} == {"nyu": [0, 1], "lab": [2]}
    assert groups["nyu"]["n_images"] == 2 and groups["lab"]["n_images"] == 1
    mean = (2 * groups["nyu"]["delta1_aligned"] + groups["lab"]["delta1_aligned"]) / 3
    assert mean == pytest.approx(result["delta1_aligned"])


def test_a_network_that_predicts_depth_below_zero_is_flagged_not_scored_perfect(tmp_path):
    """The hu2021 arithmetic counts a negative prediction as within every δ: the report must say so."""
    pairs = write_pairs(tmp_path / "pairs")
    negative, honest = (
        score(ConstantDepth(-0.5, (48, 64)), str(pairs), {}),
        score(ConstantDepth(2.5, (48, 64)), str(pairs), {}),
    )
    assert negative["delta1"] == 1.0 and negative["nonpositive_pixels"] == 3 * 48 * 64  # the false perfect score
    assert honest["nonpositive_pixels"] == 0
    base = {"description": "", "arch": "baseline", "seed": 0, "train_seconds": 0.0}
    rows = [{**base, **negative, "name": "below_zero"}, {**base, **honest, "name": "constant"}]
    rows += [{**rows[0], "seed": 1}, {**rows[1], "seed": 1, "delta1_aligned": honest["delta1_aligned"] - 0.01}]
    summary = summarise_real(rows)
    table = real_markdown(summary, "# t")
    assert "| below_zero ⚠ |" in table and "| constant |" in table
    assert "**below_zero** predicted depth <= 0 m at 18,432 valid pixels" in table and "**constant**" not in table
    verdict = compare(summary[0], summary[1], "delta1")["verdict"]
    assert verdict.startswith("not decided (below_zero predicted depth <= 0")
    assert compare(summary[1], summary[1], "delta1")["verdict"].startswith("not resolved")


@pytest.mark.slow
def test_real_smoke_trains_three_students_and_scores_them(tmp_path, capsys):
    teacher = litedepth.save_model(
        litedepth.create_model("fast-student", input_size=(48, 64)), tmp_path / "teacher.safetensors"
    )
    write_image(tmp_path / "photos" / "wide.jpg", seed=1, size=(60, 100))
    write_image(tmp_path / "photos" / "sub" / "portrait.png", seed=2, size=(90, 50))  # any shape, recursive
    write_image(tmp_path / "photos" / "small.png", seed=3, size=(40, 56))
    pairs = write_pairs(tmp_path / "pairs")
    out = tmp_path / "out"
    argv = ["reproduce", "--preset", "real-smoke", "--teacher", str(teacher), "--unlabeled", str(tmp_path / "photos")]
    argv += ["--real-pairs", str(pairs), "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    for name in ("real_no_kd", "real_kd", "real_kd_fast"):
        assert (out / "runs" / name / "seed0" / "model.safetensors").is_file()
    results = json.loads((out / "results.json").read_text())
    rows = {r["name"]: r for r in results["runs"]}
    assert {"real_no_kd", "real_kd", "real_kd_fast", "teacher", "constant"} <= set(rows)
    assert rows["real_kd_fast"]["arch"] == "fast-student" and rows["real_kd"]["arch"] == "lite0-student"
    for row in rows.values():
        assert row["n_images"] == 3 and 0.0 <= row["delta1_aligned"] <= 1.0
        assert {g: info["n_images"] for g, info in row["per_source"].items()} == {"nyu": 2, "tum": 1}
    # the teacher taught the photos and the rooms (teach_rooms): one cached prediction per image
    assert REAL_PRESETS["real-smoke"].teach_rooms
    assert len(list((out / "teacher-cache").glob("*/*.npy"))) == 3 + REAL_PRESETS["real-smoke"].n_rooms
    assert (out / "real_samples.png").stat().st_size > 0 and "δ1 tum (n=1)" in (out / "results.md").read_text()
    # the teacher is a point of the δ1-vs-parameters figure, with its own parameter count
    assert rows["teacher"]["params"] == sum(p.numel() for p in litedepth.load(teacher).parameters()) > 0
    assert (out / "para_accu.png").stat().st_size > 0
    # the report alone, from the finished runs: the same scores
    assert main([*argv, "--report-only"]) == 0
    again = {r["name"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert again["real_kd"]["delta1_aligned"] == pytest.approx(rows["real_kd"]["delta1_aligned"])
    # a run that did not finish is named in both reports, not left out in silence
    (out / "runs" / "real_kd_fast" / "seed0" / "result.json").unlink()
    assert main([*argv, "--report-only"]) == 0
    report = json.loads((out / "results.json").read_text())
    assert report["not_finished"] == ["real_kd_fast seed 0"]
    assert "real_kd_fast" not in {r["name"] for r in report["runs"]}
    assert "Not finished, left out of this table: real_kd_fast seed 0." in (out / "results.md").read_text()
    capsys.readouterr()
