import os
import signal
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

import litedepth  # noqa: E402
from conftest import one_line_error  # noqa: E402
from litedepth.apps import camera_stream  # noqa: E402
from litedepth.apps.depth_video import depth_frame, require_av  # noqa: E402
from litedepth.apps.video import clip_depth_range, probe, read_frames  # noqa: E402
from litedepth.cli import main  # noqa: E402
from litedepth.errors import LitedepthError  # noqa: E402
from litedepth.inference import predict  # noqa: E402
from litedepth.outputs import MARKER  # noqa: E402

FRAMES, HEIGHT, WIDTH, FPS = 12, 64, 80, 10


def write_clip(path, frames=FRAMES, height=HEIGHT, width=WIDTH, fps=FPS):
    """A short H.264 clip of moving colour gradients."""
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            rgb = np.stack(
                [(x * 3 + t * 8) % 256, (y * 4 + t * 5) % 256, ((x + y) * 2 + t * 11) % 256], axis=-1
            ).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded(path):
    """Frame count, average frame rate and the size of the first frame of a video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return len(frames), rate, frames[0].shape


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4")


@pytest.fixture
def model_file(tmp_path):
    return litedepth.save_model(
        litedepth.create_model("fast-student", input_size=(48, 64)), tmp_path / "fast.safetensors"
    )


def test_side_by_side_video_and_per_frame_files(clip, model_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(clip),
                "--model",
                str(model_file),
                "--out",
                str(out),
                "--save",
                "png16,npy",
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    video = out / "clip_depth.mp4"
    frames, rate, shape = decoded(video)
    assert (frames, rate, shape) == (FRAMES, Fraction(FPS), (HEIGHT, 2 * WIDTH, 3))
    # no temporary file left
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["clip", "clip_depth.mp4"]
    assert len(list((out / "clip").glob("*.png"))) == FRAMES and len(list((out / "clip").glob("*.npy"))) == FRAMES
    model = litedepth.load(model_file)
    images = list(read_frames(clip))
    for k in (0, 7, FRAMES - 1):
        expected = predict(model, images[k])
        np.testing.assert_allclose(np.load(out / "clip" / f"{k:06d}.npy"), expected, atol=1e-5)
        png = np.asarray(Image.open(out / "clip" / f"{k:06d}.png"))
        assert png.dtype == np.uint16 and png.shape == (HEIGHT, WIDTH)
        np.testing.assert_allclose(png / 1000.0, np.clip(expected, 0, 65.535), atol=0.0006)
    printed = capsys.readouterr().out
    assert "12 frames at 10 fps" in printed and "frames/s" in printed


def test_depth_only_layout_keeps_width_and_rate(clip, model_file, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(clip),
                "--model",
                str(model_file),
                "--out",
                str(out),
                "--video-layout",
                "depth",
                "--depth-range",
                "0.5,4",
                "--smooth",
                "0.5",
            ]
        )
        == 0
    )
    assert decoded(out / "clip_depth.mp4") == (FRAMES, Fraction(FPS), (HEIGHT, WIDTH, 3))
    # no per-frame files unless --save asks
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["clip_depth.mp4"]


def test_one_colour_range_for_the_whole_clip(clip, model_file):
    model = litedepth.load(model_file)
    info = probe(clip)
    assert (info.frames, info.fps, info.width, info.height) == (FRAMES, Fraction(FPS), WIDTH, HEIGHT)
    vmin, vmax = clip_depth_range(model, clip, info.frames)
    depths = predict(model, list(read_frames(clip)))
    pooled = np.concatenate([d.ravel() for d in depths])
    np.testing.assert_allclose((vmin, vmax), np.percentile(pooled, (2, 98)), rtol=1e-6)
    # equal depths in two different frames get equal colours (the range does not follow each frame)
    images = list(read_frames(clip))
    a, b = depths[0].copy(), depths[-1].copy()
    a[:4, :4] = b[:4, :4] = 1.234
    ca, cb = (depth_frame(im, d, vmin, vmax, layout="depth") for im, d in zip((images[0], images[-1]), (a, b)))
    assert (ca[:4, :4] == cb[:4, :4]).all()
    assert depth_frame(images[0], a, vmin, vmax).shape == (HEIGHT, 2 * WIDTH, 3)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "litedepth", *args], capture_output=True, text=True, timeout=120)


def test_bad_video_inputs_exit_2_with_one_line(clip, model_file, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out = tmp_path / "out"
    base = ["--model", str(model_file), "--out", str(out)]
    cases = [
        ([str(corrupt)], "corrupt.mp4: not a readable video"),
        ([str(clip), "--smooth", "0"], "--smooth 0.0: expected a weight in (0, 1]"),
        ([str(clip), "--smooth", "1.5"], "--smooth 1.5"),
        ([str(clip), "--depth-range", "4,1"], "--depth-range 4,1: expected MIN,MAX"),
        ([str(clip), "--depth-range", "abc"], "--depth-range abc"),
        ([str(tmp_path / "missing.mp4")], "missing.mp4: no such file"),
    ]
    for argv, message in cases:
        result = run_cli("predict", *argv, *base)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists(), "nothing may be written when an input is bad"


def test_output_never_overwrites_the_input(model_file, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_clip(folder / "a_depth.mp4", frames=2)
    write_clip(tmp_path / "a.mp4", frames=2)  # its output would be videos/a_depth.mp4, the other input
    with pytest.raises(LitedepthError, match="holds .*a_depth.mp4, an input of this command"):
        main_raising(
            [
                "predict",
                str(tmp_path / "a.mp4"),
                str(folder / "a_depth.mp4"),
                "--model",
                str(model_file),
                "--out",
                str(folder),
            ]
        )


def main_raising(argv):
    from litedepth.cli import build_parser

    args = build_parser("predict").parse_args(argv)
    return args._module.run(args)


def test_glob_picks_videos_and_folders_do_not(clip, model_file, rgb_image, tmp_path):
    out = tmp_path / "out"
    # the clip and the photo share tmp_path: the folder gives the photo only, the glob the clip
    assert main(["predict", str(tmp_path), str(tmp_path / "*.mp4"), "--model", str(model_file), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["clip_depth.mp4", "room.png"]


def test_without_pyav_the_error_says_how_to_install(monkeypatch, clip):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    with pytest.raises(LitedepthError, match=r"pip install 'litedepth\[video\]'"):
        require_av()
    with pytest.raises(LitedepthError, match=r"pip install 'litedepth\[video\]'"):
        main_raising(["predict", str(clip), "--arch", "fast-student", "--out", str(clip.parent / "out")])
    assert not (clip.parent / "out").exists()


@pytest.fixture
def virtual_camera(monkeypatch):
    """Camera number N read through FFmpeg's lavfi device (a test pattern) instead of this system's camera device."""
    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setitem(
        camera_stream.CAMERA_INPUTS, sys.platform, ("lavfi", f"testsrc=size={WIDTH}x{HEIGHT}:rate={FPS}")
    )


def test_camera_input_gives_a_depth_video(virtual_camera, model_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["predict", "camera:0", "--frames", "9", "--model", str(model_file), "--out", str(out), "--save", "npy"])
        == 0
    )
    assert decoded(out / "camera0_depth.mp4") == (9, Fraction(FPS), (HEIGHT, 2 * WIDTH, 3))
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["camera0", "camera0_depth.mp4"]
    camera = camera_stream.open_camera(0)  # the test pattern starts again at its first frame
    frames = [next(camera.frames) for _ in range(9)]
    camera.close()
    model = litedepth.load(model_file)
    for k in (0, 8):
        np.testing.assert_allclose(np.load(out / "camera0" / f"{k:06d}.npy"), predict(model, frames[k]), atol=1e-5)
    assert "9 frames at 10 fps" in capsys.readouterr().out


def test_ctrl_c_ends_a_camera_video_and_keeps_it(virtual_camera, model_file, tmp_path):
    before = signal.getsignal(signal.SIGINT)  # Python's default_int_handler, or SIG_IGN in a background job
    camera = camera_stream.open_camera(0)
    frames = camera.frames

    def ctrl_c_at_frame_30():  # a real SIGINT to this process while the camera is being recorded
        try:
            for i, frame in enumerate(frames):
                if i == 30:
                    os.kill(os.getpid(), signal.SIGINT)
                yield frame
        finally:
            frames.close()

    camera.frames = ctrl_c_at_frame_30()
    result = camera_stream.predict_camera(litedepth.load(model_file), camera, tmp_path / "live.mp4", progress=False)
    assert 30 <= result.frames <= 32 and decoded(tmp_path / "live.mp4")[0] == result.frames
    assert [p.name for p in tmp_path.iterdir() if p.name != "fast.safetensors"] == ["live.mp4"]
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C acts as before afterwards


def test_bad_camera_inputs_exit_2_with_one_line(model_file, tmp_path, monkeypatch, capsys):
    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setitem(camera_stream.CAMERA_INPUTS, sys.platform, ("v4l2", str(tmp_path / "video{index}")))
    base = ["--model", str(model_file), "--out", str(tmp_path / "out")]
    assert one_line_error(capsys, ["predict", "camera:3", *base]).endswith(
        f"camera:3: no such camera ({tmp_path / 'video3'} does not exist)"
    )
    assert "expected camera:N" in one_line_error(capsys, ["predict", "camera:front", *base])
    (tmp_path / "video0").write_text("not a camera")
    assert "camera:0: cannot be read from" in one_line_error(capsys, ["predict", "camera:0", *base])
    assert "--frames 0" in one_line_error(capsys, ["predict", "camera:0", "--frames", "0", *base])
    assert not (tmp_path / "out").exists()


def test_one_video_style_object_or_its_fields_as_keywords(clip, model_file, tmp_path):
    from litedepth.apps.video import VideoStyle, predict_video

    model = litedepth.load(model_file)
    style = VideoStyle(layout="depth", batch_size=5, depth_range=(0.5, 4.0), smooth=0.5, cmap="viridis", progress=False)
    whole = predict_video(model, clip, tmp_path / "style.mp4", style, frames_dir=tmp_path / "f", save=["npy"])
    fields = predict_video(
        model,
        clip,
        tmp_path / "keywords.mp4",
        layout="depth",
        batch_size=5,
        depth_range=(0.5, 4.0),
        smooth=0.5,
        cmap="viridis",
        progress=False,
    )
    assert (whole.frames, whole.vmin, whole.vmax) == (fields.frames, 0.5, 4.0) == (FRAMES, 0.5, 4.0)
    assert decoded(tmp_path / "style.mp4") == decoded(tmp_path / "keywords.mp4") == (FRAMES, FPS, (HEIGHT, WIDTH, 3))
    assert len(list((tmp_path / "f").glob("*.npy"))) == FRAMES
    assert style.save == () and style.frames_dir is None  # frozen: the call made its own copy
    with pytest.raises(LitedepthError, match="per-frame files npy: .* give a folder"):
        predict_video(model, clip, tmp_path / "x.mp4", style, save=["npy"])
