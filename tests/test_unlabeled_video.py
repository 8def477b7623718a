"""Videos as unlabeled training images: frames every N seconds, near-duplicates skipped, stable identities."""

import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image

av = pytest.importorskip("av")

import litedepth  # noqa: E402
from litedepth.config import Config, load_config  # noqa: E402
from litedepth.data import UnlabeledImages, open_dataset  # noqa: E402
from litedepth.data.store import open_store  # noqa: E402
from litedepth.data.transforms import ResizeShorter  # noqa: E402
from litedepth.data.video_frames import sample_video  # noqa: E402
from litedepth.errors import LitedepthError  # noqa: E402
from litedepth.training.mixing import build_training_set  # noqa: E402
from litedepth.training.teacher_cache import item_key  # noqa: E402
from litedepth.training.teachers import load_teacher  # noqa: E402

H, W, FPS = 48, 64, 10
# seconds 0-3: one view with a small block moving across it (a person before a still camera);
# seconds 3 and 4: two other views; seconds 5-8: a fourth view, still
TIMELINE = [("still", 0)] * 30 + [("view", 1)] * 10 + [("view", 2)] * 10 + [("view", 3)] * 30


def view(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth random picture: 4x5 random colours upsampled."""
    small = np.random.default_rng(seed).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def timeline_frames() -> list[np.ndarray]:
    frames = []
    for n, (kind, seed) in enumerate(TIMELINE):
        rgb = view(seed).copy()
        if kind == "still":
            x = 2 * n % (W - 20)
            rgb[14:34, x : x + 20] = 255  # an eighth of the picture: the mean difference would call it a new view
        frames.append(rgb)
    return frames


def write_video(path, frames, fps=FPS, rotation=None):
    """An H.264 video of ``frames`` ((H, W, 3) uint8) at ``fps``; ``rotation``: its display rotation (degrees)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "walk.mp4", timeline_frames())


@pytest.mark.parametrize(
    "interval, times", [(1.0, list(range(8))), (0.5, [k / 2 for k in range(16)]), (3.0, [0, 3, 6])]
)
def test_one_frame_every_interval(video, interval, times):
    sampled = sample_video(video, interval, threshold=0.0, progress=False)  # threshold 0: nothing is a duplicate
    assert sampled.times == pytest.approx(times) and sampled.skipped == 0
    assert sampled.image(0).size == (W, H)


@pytest.mark.parametrize(
    "interval, times, skipped", [(1.0, [0, 3, 4, 5], 4), (2.0, [0, 4, 6], 1), (0.5, [0, 3, 4, 5], 12)]
)
def test_near_duplicates_of_the_last_kept_frame_are_skipped(video, interval, times, skipped):
    sampled = sample_video(video, interval, progress=False)
    assert sampled.times == pytest.approx(times) and sampled.skipped == skipped
    # the kept frames are the views themselves (JPEG and H.264 losses aside)
    expected = [view(seed) for seed in (0, 1, 2, 3)] if interval != 2.0 else [view(0), view(2), view(3)]
    for k, rgb in enumerate(expected):
        frame = np.asarray(sampled.image(k), np.float32)
        assert np.median(np.abs(frame - rgb)) < 6


def photos_and_video(root, video):
    """A folder of a landscape and a portrait photo, an EXIF-rotated one, and the video (in a sub-folder)."""
    root.mkdir()
    Image.fromarray(view(10, 40, 60)).save(root / "landscape.jpg")
    Image.fromarray(view(11, 60, 40)).save(root / "portrait.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60 wide, 40 high; shown turned 90 degrees clockwise
    Image.fromarray(view(12, 40, 60)).save(root / "sideways.jpg", exif=exif, quality=95)
    (root / "clips").mkdir()
    (root / "clips" / "walk.mp4").write_bytes(video.read_bytes())
    return root


def test_a_folder_mixes_photos_and_video_frames(tmp_path, video, caplog):
    folder = photos_and_video(tmp_path / "mixed", video)
    with caplog.at_level("INFO", logger="litedepth"):
        ds = UnlabeledImages(folder, progress=False)
    assert ds.names == [
        "clips/walk@0s",
        "clips/walk@3s",
        "clips/walk@4s",
        "clips/walk@5s",
        "landscape",
        "portrait",
        "sideways",
    ]
    sizes = [ds.load(i)["image"].size for i in range(len(ds))]
    assert sizes == [(W, H)] * 4 + [(60, 40), (40, 60), (40, 60)]
    summary = f"unlabeled source {folder}: 3 photos, 4 video frames from 1 videos (4 near-duplicates skipped)"
    assert ds.summary() == summary and summary in caplog.text
    assert len(UnlabeledImages(folder, frame_interval=0.5, progress=False)) == 3 + 4
    assert len(open_dataset(folder / "clips" / "walk.mp4", labeled=False)) == 4  # a video as the source
    (tmp_path / "list.txt").write_text("mixed/landscape.jpg\nmixed/clips/walk.mp4\n")
    assert len(UnlabeledImages(tmp_path / "list.txt", progress=False)) == 5


def test_a_portrait_phone_video_comes_out_upright(tmp_path):
    frames = [np.zeros((H, W, 3), np.uint8) for _ in range(5)]
    for rgb in frames:
        rgb[:16, :16] = 255  # white top-left corner as stored
    path = write_video(tmp_path / "phone.mp4", frames, rotation=-90)  # shown turned 90 degrees clockwise
    image = np.asarray(UnlabeledImages(path, progress=False).load(0)["image"])
    assert image.shape == (W, H, 3)
    assert image[:16, -16:].mean() > 200 and image[:16, :16].mean() < 50  # the corner is now top right


def test_frames_have_stable_distinct_identities_and_survive_pickling(tmp_path, video):
    folder = photos_and_video(tmp_path / "mixed", video)
    ds, again = UnlabeledImages(folder, progress=False), UnlabeledImages(folder, progress=False)
    keys = [item_key(ds, i) for i in range(len(ds))]
    assert len(set(keys)) == len(ds) and keys == [item_key(again, i) for i in range(len(again))]
    assert ds.image_file(1) == (str(folder / "clips" / "walk.mp4"), "t=3.000000")
    copy = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker started by spawn gets
    assert np.array_equal(np.asarray(copy.load(2)["image"]), np.asarray(ds.load(2)["image"]))
    store = open_store(ds, 40, tmp_path / "stores", progress=False)  # the decode-once sample store
    rgb, depth = store.item(1)
    assert depth is None
    assert np.array_equal(rgb, np.asarray(ResizeShorter(40)(ds.load(1), None)["image"]))
    assert open_store(UnlabeledImages(folder, progress=False), 40, tmp_path / "stores").folder == store.folder


def test_distilling_on_video_frames_gives_aligned_teacher_targets(tmp_path, video):
    folder = photos_and_video(tmp_path / "mixed", video)
    torch.manual_seed(0)
    teacher = litedepth.save_model(
        litedepth.create_model("fast-student", input_size=(H, W)), tmp_path / "t.safetensors"
    )
    cfg = Config.from_dict(
        {
            "model": {"arch": "fast-student", "input_size": [H, W], "encoder_weights": None},
            "data": {
                "sources": [{"path": str(folder), "role": "unlabeled", "frame_interval": 2.0}],
                "val": None,
                "store_dir": str(tmp_path / "stores"),
            },
            "train": {"device": "cpu", "out_dir": str(tmp_path / "run"), "progress": False, "batch_size": 2},
        }
    )
    data = build_training_set(cfg, load_teacher(teacher))
    assert len(data) == 3 + 3  # the photos and the frames at 0, 4 and 6 s
    for j in range(len(data)):
        ds, i = data.cache_ref(0, j)
        assert data.cache.get(ds, i).shape == data.stores[0].item(j)[0].shape[:2]
    batch = data.batch([(0, 0), (0, 1)])
    assert batch["image"].shape == (2, 3, H, W) and bool((batch["target_mask"] == 1).all())


def test_a_corrupt_video_is_one_line_naming_it(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(view(1)).save(folder / "a.jpg")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(LitedepthError) as err:
        UnlabeledImages(folder, progress=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{folder / 'broken.mp4'}: not a readable video")


def test_without_pyav_a_video_names_the_extra(tmp_path, video, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(LitedepthError) as err:
        UnlabeledImages(video, progress=False)
    assert str(err.value).startswith(f"{video}: ") and str(err.value).endswith("pip install 'litedepth[video]'")


@pytest.mark.parametrize("value", [0, -1, ".inf"])
def test_frame_interval_must_be_positive(value):
    with pytest.raises(LitedepthError, match="data.sources.0.frame_interval must be a positive number"):
        load_config("synth-student-kd", [f"data.sources.0.frame_interval={value}"])
