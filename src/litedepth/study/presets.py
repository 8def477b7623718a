"""The study's configurations and presets: the runs of the paper's table and the sizes of a study.

>>> from litedepth.study.presets import STUDY_PRESETS
>>> STUDY_PRESETS["quick"].runs          # the paper's table: ('N_t_X', 'N_t_X_U_label', ...)

Names follow the paper: X = original labeled set, U = auxiliary set used unlabeled (the
teacher's predictions are the targets), U' = the same auxiliary set used with its labels.
On synthetic data X is a ``nyu``-scale set, U one of the preset's ``aux_preset`` scale and, where
the preset sets ``mismatch_preset``, Um a deliberately mismatched one (``hall``); the scales are the
scene scales of `litedepth.synth.scene.SCALES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the paper's table."""

    name: str  # the paper's checkpoint name, e.g. N_s_X_U_unlabel
    network: str  # "teacher" | "student" | "fast"
    sources: tuple[tuple[str, str], ...]  # (data set key, role): role labeled | unlabeled
    teacher: str | None = None  # name of the teacher run it distils from
    description: str = ""


RUNS: dict[str, RunSpec] = {
    spec.name: spec
    for spec in (
        RunSpec("N_t_X", "teacher", (("X", "labeled"),), None, "teacher on X"),
        RunSpec("N_t_X_U_label", "teacher", (("X", "labeled"), ("U", "labeled")), None, "teacher on X + U'"),
        RunSpec("N_s_X_no_KD", "student", (("X", "labeled"),), None, "student on X, no KD"),
        RunSpec(
            "N_s_X_U_label_no_KD", "student", (("X", "labeled"), ("U", "labeled")), None, "student on X + U', no KD"
        ),
        RunSpec("N_s_X", "student", (("X", "labeled"),), "N_t_X", "student, KD on X"),
        RunSpec("N_s_U_unlabel", "student", (("U", "unlabeled"),), "N_t_X", "student, KD on U only"),
        RunSpec("N_s_X_U_unlabel", "student", (("X", "labeled"), ("U", "unlabeled")), "N_t_X", "student, KD on X + U"),
        RunSpec(
            "N_s_X_U_label", "student", (("X", "labeled"), ("U", "labeled")), "N_t_X_U_label", "student, KD on X + U'"
        ),
        RunSpec(
            "N_s_Um_unlabel", "student", (("Um", "unlabeled"),), "N_t_X", "student, KD on mismatched-scale Um only"
        ),
        RunSpec(
            "N_s_X_Um_unlabel",
            "student",
            (("X", "labeled"), ("Um", "unlabeled")),
            "N_t_X",
            "student, KD on X + mismatched Um",
        ),
        RunSpec("F_s_X_no_KD", "fast", (("X", "labeled"),), None, "fast student on X, no KD"),
        RunSpec(
            "F_s_X_U_unlabel", "fast", (("X", "labeled"), ("U", "unlabeled")), "N_t_X", "fast student, KD on X + U"
        ),
        RunSpec(
            "P_s_X_U_unlabel",
            "paper-decoder",
            (("X", "labeled"), ("U", "unlabeled")),
            "N_t_X",
            "student with the paper's decoder, KD on X + U",
        ),
        RunSpec("S_s_X_no_KD", "scratch", (("X", "labeled"),), None, "the paper's student from scratch on X, no KD"),
        RunSpec(
            "S_s_X_U_unlabel",
            "scratch",
            (("X", "labeled"), ("U", "unlabeled")),
            "N_t_X",
            "the paper's student from scratch, KD on X + U",
        ),
    )
}

PAPER_TABLE = (
    "N_t_X",
    "N_t_X_U_label",
    "N_s_X_no_KD",
    "N_s_X_U_label_no_KD",
    "N_s_X",
    "N_s_U_unlabel",
    "N_s_X_U_unlabel",
    "N_s_X_U_label",
)


@dataclass(frozen=True)
class StudyPreset:
    """Everything that sets the size of a study.

    Synthetic presets give every teacher and every student the same training budget in
    images seen (``teacher_images``, ``student_images``: as many epochs as the budget needs, each
    cut to budget / epochs images; cosine schedule), so that configurations differ in their data
    and targets, not in compute. The ``paper`` preset trains for fixed epochs with the WACV-2019 step schedule.
    """

    name: str
    synthetic: bool = True  # generate the data (else --data-root / --aux-root give real sets)
    image_size: tuple[int, int] = (120, 160)  # synthetic images as written (H, W)
    input_size: tuple[int, int] = (96, 128)  # network input (the training crop)
    n_train: int = 600  # images in X
    n_aux: int = 1200  # images in U (and in Um)
    n_test: int = 100  # test images of X's distribution
    # X's training images rendered per synthetic room (1: every image a new room); U and Um have one
    views_per_scene: int = 1
    aux_preset: str = "scannet"  # scene scale of U (a name of litedepth.synth.scene.SCALES)
    mismatch_preset: str | None = None  # scene scale of Um (None: no mismatched runs)
    runs: tuple[str, ...] = PAPER_TABLE
    seeds: tuple[int, ...] = (0,)
    teacher_images: int | None = 4000  # training budget of a teacher in images seen (None: fixed epochs)
    student_images: int | None = 2400  # training budget of a student in images seen (None: fixed epochs)
    epochs: int = 20  # fixed epochs, where the budgets are None
    batch_size: int = 16
    lr: float = 3e-4
    schedule: str = "cosine"  # cosine | step (x0.1 every 5 epochs, the WACV-2019 recipe)
    workers: int = 1  # DataLoader workers
    threads: int | None = None  # torch CPU threads per process (None: torch's default)
    latency_size: tuple[int, int] = (228, 304)  # input size at which each architecture's CPU latency is measured
    archs: dict = field(default_factory=lambda: dict(LITE_ARCHS))
    # encoders that ship ImageNet weights start from them (None: all from scratch)
    encoder_weights: str | None = "imagenet"
    kd_loss: str = "l1"  # loss to the teacher (loss.kd)
    teacher_cache: bool = True  # run the teacher once per image (False: live, on every augmented batch)
    # labeled sources also get the loss to the teacher (False: teacher on unlabeled data only)
    teach_labeled: bool = True
    cache_flip: bool = False  # average the cached teacher prediction with the mirrored image's
    data_seed: int = 0  # added to the synthetic data's seeds: another draw of the same distributions
    # train.precision of every run: fp32, so that every CPU trains the same arithmetic (auto would pick bf16
    # on CPUs with AMX and not on others); the GPU presets (study-gpu, paper) ask for auto
    precision: str = "fp32"
    channels_last: bool = True  # train.channels_last of every run


# Networks of the synthetic presets: ImageNet-initialised EfficientNet-Lite encoders, the
# paper's student from scratch as a reference.
LITE_ARCHS = {
    "teacher": "lite2-teacher",
    "student": "lite0-student",
    "fast": "fast-student",
    "paper-decoder": "lite0-student-paper",
    "scratch": "hu2021-student",
}
PAPER_ARCHS = {
    "teacher": "hu2021-teacher",
    "student": "hu2021-student",
    "fast": "fast-student",
    "paper-decoder": "hu2021-student",
    "scratch": "hu2021-student",
}


STUDY_PRESETS: dict[str, StudyPreset] = {
    # At most 10 minutes from a fresh clone on a 2-core CPU: a demonstration of the whole pipeline, one seed.
    "quick": StudyPreset(
        "quick",
        image_size=(90, 120),
        input_size=(72, 96),
        n_train=160,
        n_aux=320,
        n_test=48,
        views_per_scene=4,
        aux_preset="nyu",
        teacher_images=2800,
        student_images=1700,
    ),
    # The CPU study: three seeds of every configuration, ImageNet-initialised networks, the paper's student
    # from scratch without and with KD on X + U (S_s: a student far below its teacher, as in the paper) and
    # the parity check of lite0-student's decoder (P_s).
    # X is data-limited as NYU-v2 is (150 rooms, 4 views each); U is new rooms of X's scale and views (the
    # scannet scale's hand-held views are another distribution); Um is the mismatched hall scale. Teachers
    # get 2.7x a student's budget: trained once, offline. The KD recipe is StudyPreset's defaults (the
    # README says how it was chosen); data_seed 1: a draw of the data other than the one it was chosen on.
    "study": StudyPreset(
        "study",
        views_per_scene=4,
        aux_preset="nyu",
        mismatch_preset="hall",
        seeds=(0, 1, 2),
        teacher_images=10800,
        student_images=4000,
        data_seed=1,
        runs=PAPER_TABLE + ("N_s_Um_unlabel", "P_s_X_U_unlabel", "S_s_X_no_KD", "S_s_X_U_unlabel"),
    ),
    # The study on one GPU with --jobs 3 (three seeds side by side), about 5 minutes on a 16-core GPU
    # machine: 2.2x (teachers) and 2.25x (students) the study's budgets. Batch 64 with the
    # learning rate scaled by sqrt(4); 2 torch threads per process leave the cores to the DataLoader workers.
    # The runs come in the order that decides most findings first.
    "study-gpu": StudyPreset(
        "study-gpu",
        views_per_scene=4,
        aux_preset="nyu",
        mismatch_preset="hall",
        seeds=(0, 1, 2),
        teacher_images=24000,
        student_images=9000,
        batch_size=64,
        lr=6e-4,
        precision="auto",
        workers=4,
        threads=2,
        data_seed=1,
        runs=(
            "N_s_X_no_KD",
            "N_s_X_U_unlabel",
            "N_s_U_unlabel",
            "N_s_Um_unlabel",
            "N_s_X",
            "N_s_X_U_label_no_KD",
            "N_s_X_U_label",
        ),
    ),
    # Seconds: every step of the pipeline on tiny data (the device check's CPU dry run); its numbers mean nothing.
    "smoke": StudyPreset(
        "smoke",
        image_size=(60, 80),
        input_size=(48, 64),
        n_train=8,
        n_aux=8,
        n_test=4,
        mismatch_preset="hall",
        teacher_images=16,
        student_images=16,
        batch_size=4,
        workers=1,
        threads=1,
        latency_size=(48, 64),
        encoder_weights=None,
        runs=PAPER_TABLE + ("N_s_Um_unlabel",),
    ),
    # The paper's setting on real data, for a GPU machine: NYU-v2 (seed layout) + ScanNet frames.
    "paper": StudyPreset(
        "paper",
        synthetic=False,
        image_size=(480, 640),
        input_size=(228, 304),
        n_train=0,
        n_aux=0,
        n_test=0,
        teacher_images=None,
        student_images=None,
        epochs=20,
        batch_size=8,
        lr=1e-4,
        schedule="step",
        precision="auto",
        workers=4,
        archs=dict(PAPER_ARCHS),
        encoder_weights=None,
        kd_loss="hu2019",
        teach_labeled=True,
    ),
}


# The real preset's runs: students for real photographs. "rooms" = synthetic rooms with their ground truth,
# "photos" = the --unlabeled real photos, the targets there the --teacher's predictions.
REAL_RUNS: dict[str, RunSpec] = {
    spec.name: spec
    for spec in (
        RunSpec("real_no_kd", "student", (("rooms", "labeled"),), None, "synthetic rooms, ground truth only"),
        RunSpec(
            "real_kd",
            "student",
            (("rooms", "labeled"), ("photos", "unlabeled")),
            "teacher",
            "synthetic rooms (ground truth) + real photos (the teacher)",
        ),
        RunSpec(
            "real_kd_fast",
            "fast",
            (("rooms", "labeled"), ("photos", "unlabeled")),
            "teacher",
            "fast student, as real_kd",
        ),
    )
}


@dataclass(frozen=True)
class RealPreset:
    """Students for real photographs: synthetic rooms with ground truth + real photos taught by a real teacher.

    Every run gets the same budget in images seen (``student_images``); the real photos are listed
    ``photo_repeat`` times in the mix (their share of each batch), taught by the teacher at its own
    scale, flip-averaged, through the cache. ``teach_rooms``: the teacher's loss on the rooms too.
    """

    name: str
    image_size: tuple[int, int] = (240, 320)  # synthetic rooms as written (H, W)
    input_size: tuple[int, int] = (192, 256)  # network input (the training crop)
    n_rooms: int = 600  # synthetic training images
    views_per_scene: int = 4
    room_scale: str = "nyu"  # scene scale of the rooms (litedepth.synth.scene.SCALES)
    runs: tuple[str, ...] = tuple(REAL_RUNS)
    seeds: tuple[int, ...] = (0,)
    student_images: int = 5000  # training budget of every run in images seen
    photo_repeat: int = 4  # the real photos listed this many times among the sources
    teach_rooms: bool = True
    batch_size: int = 16
    lr: float = 1e-3
    workers: int = 1
    threads: int | None = None
    encoder_weights: str | None = "imagenet"
    kd_loss: str = "silog"  # the loss to the teacher (loss.kd): a log ratio, as δ1 measures
    precision: str = "fp32"
    channels_last: bool = True
    latency_size: tuple[int, int] = (228, 304)
    data_seed: int = 0
    precise_bn_images: int = 256  # train.precise_bn_images (the default 1000 costs minutes on 2 cores)
    samples: int = 4  # real pairs in the figure
    archs: dict = field(default_factory=lambda: dict(LITE_ARCHS))


REAL_PRESETS: dict[str, RealPreset] = {
    # At most 30 minutes on 2 CPU cores for one seed of all three runs, data and scoring included
    # (the budget is set from the measured images/s at 192x256: see the real preset's docs page).
    "real": RealPreset("real"),
    # Seconds, on tiny data: every step of the real preset (tests); its numbers mean nothing.
    "real-smoke": RealPreset(
        "real-smoke",
        image_size=(60, 80),
        input_size=(48, 64),
        n_rooms=8,
        student_images=16,
        photo_repeat=1,
        batch_size=4,
        threads=1,
        workers=0,
        latency_size=(48, 64),
        encoder_weights=None,
        precise_bn_images=8,
        samples=2,
    ),
}
