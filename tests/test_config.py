import pytest
import yaml

from litedepth.cli import main
from litedepth.config import Config, dump_config, load_config, shipped_configs
from litedepth.errors import LitedepthError


def test_shipped_configs_load_by_name():
    assert {"nyu-teacher", "nyu-student-kd", "synth-teacher", "synth-student-kd"} <= set(shipped_configs())
    teacher = load_config("nyu-teacher")
    # the WACV-2019 recipe
    assert teacher.model.arch == "hu2021-teacher" and teacher.model.input_size == (228, 304)
    assert (teacher.optim.name, teacher.optim.lr, teacher.optim.weight_decay) == ("adam", 1e-4, 1e-4)
    assert (teacher.train.epochs, teacher.train.batch_size, teacher.schedule.step_epochs, teacher.schedule.gamma) == (
        20,
        8,
        5,
        0.1,
    )
    kd = load_config("nyu-student-kd")
    assert [s.role for s in kd.data.sources] == ["labeled", "unlabeled"]
    assert load_config("synth-teacher").model.input_size[0] <= 114


def test_overrides_are_typed_and_indexed():
    cfg = load_config(
        "synth-student-kd",
        [
            "train.epochs=3",
            "model.input_size=[64, 96]",
            "data.sources.1.role=labeled",
            "data.val=null",
            "optim.lr=1e-3",
            "distill.cache=false",
        ],
    )
    assert cfg.train.epochs == 3 and cfg.model.input_size == (64, 96)
    assert cfg.data.sources[1].role == "labeled" and cfg.data.val is None
    assert cfg.optim.lr == 1e-3 and cfg.distill.cache is False
    cfg = load_config("synth-teacher", ["data.sources=[{path: a}, {path: b, role: unlabeled}]"])
    assert [(s.path, s.role, s.kind) for s in cfg.data.sources] == [
        ("a", "labeled", "auto"),
        ("b", "unlabeled", "auto"),
    ]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=5", "did you mean 'epochs'"),
        ("trian.epochs=5", "did you mean 'train'"),
        ("train.epochs=five", "expected an integer"),
        ("model.arch=hu2021-studnet", "did you mean 'hu2021-student'"),
        ("data.sources.5.path=x", "not an index"),
        ("data.sources.0.role=unlabelled", "did you mean 'unlabeled'"),
        ("loss.kd=ss", "unknown"),
        ("train.batch_size=0", "at least 1"),
        ("train.epochs", "KEY=VALUE"),
        ("optim.lr=inf", r"optim.lr must be a finite number > 0, got inf"),
        ("optim.lr=nan", r"optim.lr must be a finite number > 0, got nan"),
        ("optim.lr=0", r"optim.lr must be a finite number > 0"),
        ("loss.depth=-1", r"loss.depth must be a finite number >= 0, got -1"),
        ("loss.teacher_weight=.nan", r"loss.teacher_weight must be a finite number >= 0"),
        ("schedule.gamma=nan", r"schedule.gamma must be a finite number in \(0, 1\], got nan"),
        ("schedule.gamma=2", r"schedule.gamma must be a finite number in \(0, 1\]"),
        ("augment.hflip=1.5", r"augment.hflip must be a finite number in \[0, 1\]"),
        ("train.clip_grad_norm=.inf", r"train.clip_grad_norm must be a finite number > 0"),
        ("schedule.kind=stepwise", "schedule.kind 'stepwise' unknown"),
    ],
)
def test_bad_overrides_are_rejected(override, message):
    with pytest.raises(LitedepthError, match=message):
        load_config("synth-teacher", [override])


def test_edge_values_in_range_are_taken():
    cfg = load_config("synth-teacher", ["schedule.gamma=1", "loss.depth=0", "augment.hflip=1", "optim.momentum=0"])
    assert (cfg.schedule.gamma, cfg.loss.depth, cfg.augment.hflip, cfg.optim.momentum) == (1.0, 0.0, 1.0, 0.0)


def test_unknown_yaml_key_and_round_trip(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epocs: 3\n")
    with pytest.raises(LitedepthError, match="did you mean 'epochs'"):
        load_config(bad)
    cfg = load_config("nyu-student-kd", ["train.seed=7"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
    assert Config.from_dict(yaml.safe_load(dump_config(cfg))) == cfg
    with pytest.raises(LitedepthError, match="did you mean 'synth-teacher'"):
        load_config("synth-teachr")


def test_cli_print_config_and_errors(capsys):
    assert main(["train", "--config", "synth-teacher", "--set", "train.epochs=2", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["epochs"] == 2 and printed["model"]["arch"] == "lite2-teacher"
    assert main(["train", "--config", "synth-teacher", "--set", "train.epoch=2"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err
    assert main(["distill", "--config", "synth-student-kd", "--set", "data.sources.0.path=/nonexistent"]) == 2
    assert "no teacher" in capsys.readouterr().err
