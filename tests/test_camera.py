"""Cameras: depth for the user's focal length, back-projection and PLY point clouds."""

import numpy as np
import pytest
from PIL import Image

import litedepth
from litedepth.camera import (
    Intrinsics,
    back_project,
    focal_from_exif,
    focal_from_fov,
    read_ply,
    scale_to_camera,
    write_ply,
)
from litedepth.cli import main
from litedepth.synth.render import render
from litedepth.synth.scene import SCALES, place_camera, sample_scene


def test_a_synthetic_room_back_projects_onto_its_walls():
    """An empty synthetic room rendered through NYU's camera: every point lands on a face of the room box."""
    rng = np.random.default_rng(3)
    scene = sample_scene(rng, SCALES["nyu"])
    scene.objects, scene.groups, scene.decals, scene.targets, scene.footprints = [], [], [], [], []
    place_camera(scene, np.random.default_rng(4), SCALES["nyu"])
    _, depth = render(scene, (120, 160))
    points, _ = back_project(depth, None, Intrinsics.nyu(), max_depth=100.0)  # resized to 160x120 inside
    assert len(points) == 120 * 160
    world = scene.cam_pos + points.astype(np.float64) @ scene.cam_rot.T  # columns of cam_rot: right, down, forward
    X, Y, Z = scene.room
    to_face = np.stack(
        [
            np.abs(world[:, 2]),
            np.abs(world[:, 2] - Z),
            np.abs(world[:, 1]),
            np.abs(world[:, 0] - X),
            np.abs(world[:, 1] - Y),
            np.abs(world[:, 0]),
        ],
        axis=1,
    )
    assert to_face.min(axis=1).max() < 2e-3  # every point on the floor, the ceiling or a wall
    face = to_face.argmin(axis=1)
    wall = np.bincount(face, minlength=6)[2:].argmax() + 2  # the wall seen most: planar, at the room's distance
    on_wall = world[face == wall]
    coordinate = {2: on_wall[:, 1], 3: on_wall[:, 0], 4: on_wall[:, 1], 5: on_wall[:, 0]}[wall]
    assert len(on_wall) > 500 and np.ptp(coordinate) < 4e-3
    assert np.allclose(coordinate.mean(), {2: 0.0, 3: X, 4: Y, 5: 0.0}[wall], atol=2e-3)


def test_a_wrong_focal_length_bends_the_walls():
    """The check above can fail: back-projected with 20% too long a focal length, points leave the faces."""
    rng = np.random.default_rng(3)
    scene = sample_scene(rng, SCALES["nyu"])
    scene.objects, scene.groups, scene.decals = [], [], []
    place_camera(scene, np.random.default_rng(4), SCALES["nyu"])
    _, depth = render(scene, (120, 160))
    nyu = Intrinsics.nyu()
    wrong = Intrinsics(nyu.fx * 1.2, nyu.fy * 1.2, nyu.cx, nyu.cy, 640, 480)
    points, _ = back_project(depth, None, wrong, max_depth=100.0)
    world = scene.cam_pos + points.astype(np.float64) @ scene.cam_rot.T
    X, Y, Z = scene.room
    to_face = np.stack(
        [
            np.abs(world[:, 2]),
            np.abs(world[:, 2] - Z),
            np.abs(world[:, 1]),
            np.abs(world[:, 0] - X),
            np.abs(world[:, 1] - Y),
            np.abs(world[:, 0]),
        ],
        axis=1,
    )
    assert to_face.min(axis=1).max() > 0.02  # 10x the tolerance above


def test_ply_round_trip_with_stride_and_far_points_dropped(tmp_path):
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0], depth[0, 2], depth[2, 0] = 0.0, 50.0, np.nan
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    points, colors = back_project(depth, image, Intrinsics.centred(10.0, 8, 6), stride=2, max_depth=10.0)
    assert len(points) == 3 * 4 - 3 and np.all(points[:, 2] == 2.0)
    assert np.array_equal(colors[0], image[0, 4])  # (0,0) and (0,2) dropped, (0,4) first
    assert np.allclose(points[0], [(4 - 3.5) / 10 * 2, (0 - 2.5) / 10 * 2, 2.0])
    write_ply(tmp_path / "p.ply", points, colors)
    header = (tmp_path / "p.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert "format binary_little_endian 1.0" in header and f"element vertex {len(points)}" in header
    back, back_colors = read_ply(tmp_path / "p.ply")
    assert np.array_equal(back, points) and np.array_equal(back_colors, colors)


def test_focal_length_helpers(tmp_path):
    assert focal_from_fov(90.0, 640) == pytest.approx(320.0)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # a phone's 26 mm equivalent
    photo = tmp_path / "phone.jpg"
    Image.new("RGB", (400, 300), (90, 120, 150)).save(photo, exif=exif)
    assert focal_from_exif(photo, 400, 300) == pytest.approx(26 / 36 * 400)
    Image.new("RGB", (400, 300)).save(tmp_path / "bare.jpg")
    with pytest.raises(litedepth.LitedepthError, match="no EXIF FocalLengthIn35mmFilm"):
        focal_from_exif(tmp_path / "bare.jpg", 400, 300)
    depth = np.full((300, 400), 2.0, np.float32)
    nyu = Intrinsics.nyu()
    same = nyu.relative_focal * 300  # the training camera's focal length on this image
    assert np.allclose(scale_to_camera(depth, same, nyu), depth)
    assert np.allclose(scale_to_camera(depth, 2 * same, nyu), 2 * depth)


@pytest.fixture
def student(tmp_path):
    model = litedepth.create_model("fast-student", input_size=(48, 64))
    path = tmp_path / "student.safetensors"
    litedepth.save_model(model, path)
    return path


def test_camera_is_recorded_in_checkpoints(student, tmp_path):
    model = litedepth.load(student)
    assert model.camera == Intrinsics.nyu()
    model.camera = Intrinsics.centred(700.0, 1280, 720)
    litedepth.save_model(model, tmp_path / "other.safetensors")
    assert litedepth.load(tmp_path / "other.safetensors").camera == Intrinsics.centred(700.0, 1280, 720)


def test_predict_focal_changes_depth_by_the_focal_ratio_and_writes_ply(student, tmp_path, capsys):
    photo = tmp_path / "in" / "room.jpg"
    photo.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(photo)
    runs = {}
    for name, extra in (
        ("500", ["--focal", "500"]),
        ("1000", ["--focal", "1000"]),
        ("fov", ["--fov", "90"]),
        ("none", []),
    ):
        out = tmp_path / name
        assert (
            main(["predict", str(photo), "--model", str(student), "--out", str(out), "--save", "npy,ply", *extra]) == 0
        )
        runs[name] = np.load(out / "room.npy")
        assert "training camera" in capsys.readouterr().out
    np.testing.assert_allclose(runs["1000"], 2 * runs["500"], rtol=1e-6)
    np.testing.assert_allclose(runs["fov"], runs["500"] * (40 / 500), rtol=1e-6)  # 90 deg on 80 px: f = 40 px
    expected = runs["500"] * ((Intrinsics.nyu().relative_focal * 60) / 500)
    np.testing.assert_allclose(runs["none"], expected, rtol=1e-5)
    points, colors = read_ply(tmp_path / "1000" / "room.ply")
    assert points.shape[1] == 3 and len(points) == len(colors) and 0 < len(points) <= 60 * 80
    assert main(["predict", str(photo), "--model", str(student), "--out", str(tmp_path / "x"), "--focal", "exif"]) == 2
    assert "no EXIF FocalLengthIn35mmFilm" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["predict", str(photo), "--model", str(student), "--out", str(tmp_path / "y"), "--focal", "-3"]) == 2


def test_python_api_focal(student):
    model = litedepth.load(student)
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    base, wide = model.predict(photo, focal=500.0), model.predict([photo], focal=1000.0)[0]
    np.testing.assert_allclose(wide, 2 * base, rtol=1e-6)
