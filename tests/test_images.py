"""Decoding photos: EXIF orientation, 16-bit depth maps, transparency and PIL modes, array inputs."""

import numpy as np
import pytest
from PIL import Image

from conftest import files_under, one_line_error, write_image
from litedepth.cli import main
from litedepth.data import UnlabeledImages
from litedepth.errors import LitedepthError
from litedepth.fileio import BACKGROUND, read_rgb
from litedepth.inference import collect_images, to_pil

RED, BLUE = (220, 20, 20), (20, 20, 220)


def portrait_jpeg(path, orientation=6):
    """A 40x24 (W x H) JPEG stored sideways, red left half and blue right half, with EXIF ``orientation``."""
    pixels = np.zeros((24, 40, 3), np.uint8)
    pixels[:, :20], pixels[:, 20:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def depth_png(path, seed=0, size=(24, 40)):
    """A 16-bit single-channel PNG in millimetres, as depth maps are stored (PIL mode I;16)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(500, 9000, size).astype(np.uint16)).save(path)
    return path


def close(pixel, colour, tol=30):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, colour))


@pytest.mark.parametrize("orientation, top", [(6, RED), (8, BLUE)])
def test_exif_portrait_photo_comes_out_portrait(tmp_path, orientation, top):
    path = portrait_jpeg(tmp_path / "phone.jpg", orientation)
    image = to_pil(path)
    assert image.mode == "RGB" and image.size == (24, 40)  # width and height swapped
    # 6 turns the stored image clockwise (its left half goes on top), 8 anticlockwise
    assert close(image.getpixel((12, 5)), top) and not close(image.getpixel((12, 34)), top)
    assert read_rgb(path, orient=False).size == (40, 24)
    # an in-memory PIL image is taken as it is (it may have been rotated already)
    with Image.open(path) as opened:
        assert to_pil(opened).size == (40, 24)


def test_predict_cli_writes_depth_at_the_displayed_size(tmp_path, capsys):
    path = portrait_jpeg(tmp_path / "photos" / "phone.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(path), "--arch", "fast-student", "--out", str(out)]) == 0
    assert "error" not in capsys.readouterr().err  # a warning about the fresh network only
    depth = Image.open(out / "phone.png")
    assert depth.size == (24, 40) and np.asarray(depth).dtype == np.uint16


def test_explicit_16bit_png_exits_2_with_one_line(fast_model, tmp_path, capsys):
    depth = depth_png(tmp_path / "in" / "0.png")
    good = write_image(tmp_path / "in" / "a.jpg", size=(24, 40))
    out = tmp_path / "out"
    line = one_line_error(capsys, ["predict", str(good), str(depth), "--model", str(fast_model), "--out", str(out)])
    assert f"{depth}: looks like a depth map or a 16-bit image, not a photo" in line and "I;16" in line
    assert not out.exists(), "nothing may be written when an input is bad"
    # a glob match is named too: refused the same way
    line = one_line_error(
        capsys, ["predict", str(tmp_path / "in" / "*.png"), "--model", str(fast_model), "--out", str(out)]
    )
    assert f"{depth}: looks like a depth map" in line
    with pytest.raises(LitedepthError, match="looks like a depth map"):
        collect_images([str(depth)])  # check=True decodes, and refuses, now
    with pytest.raises(LitedepthError, match="looks like a depth map"):
        to_pil(Image.open(depth))


def test_folder_predicts_photos_and_skips_depth_maps(fast_model, tmp_path, capsys):
    nyu = tmp_path / "nyu"
    for room in ("room1", "room2"):  # the NYU train layout: 0.jpg beside its depth 0.png
        write_image(nyu / room / "0.jpg", seed=len(room), size=(24, 40))
        depth_png(nyu / room / "0.png")
    write_image(nyu / "room2" / "1.png", seed=5, size=(24, 40))  # an 8-bit RGB PNG is a photo
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["predict", str(nyu), "--model", str(fast_model), "--out", str(out), "--save", "png16,npy"]) == 0
    assert files_under(out) == [
        "room1/0.npy",
        "room1/0.png",
        "room2/0.npy",
        "room2/0.png",
        "room2/1.npy",
        "room2/1.png",
    ]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 depth map(s)" in err[0] and str(nyu / "room1" / "0.png") in err[0], err
    assert np.load(out / "room1" / "0.npy").shape == (24, 40)
    # only depth maps in the folder: one line, saying what was skipped
    only = tmp_path / "only"
    depth_png(only / "d.png")
    line = one_line_error(capsys, ["predict", str(only), "--model", str(fast_model), "--out", str(tmp_path / "o2")])
    assert "no images found; skipped 1 depth map(s)" in line
    # the same file named and inside a named folder: named wins, and is refused
    with pytest.raises(LitedepthError, match="looks like a depth map"):
        collect_images([str(nyu), str(nyu / "room1" / "0.png")])


def test_transparency_is_composited_onto_white(tmp_path):
    assert BACKGROUND == (255, 255, 255)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = (10, 200, 30)
    rgba[:, :6, 3] = 255  # left opaque, right fully transparent
    rgba[0, 0, 3] = 128  # one half-transparent pixel
    for image in (to_pil(rgba), read_rgb(_saved(Image.fromarray(rgba), tmp_path / "rgba.png"))):
        assert image.mode == "RGB"
        assert image.getpixel((2, 5)) == (10, 200, 30) and image.getpixel((9, 5)) == (255, 255, 255)
        assert close(image.getpixel((0, 0)), (132, 227, 142), tol=2)  # half way to white
    la = Image.fromarray(rgba[..., [1, 3]], mode="LA")
    assert to_pil(la).getpixel((9, 5)) == (255, 255, 255) and to_pil(la).getpixel((2, 5)) == (200, 200, 200)
    pal = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    pal.putpalette([0, 0, 255, 255, 0, 0])
    pal.info["transparency"] = 1  # palette entry 1 (red) is transparent
    decoded = read_rgb(_saved(pal, tmp_path / "pal.png"))
    assert decoded.getpixel((0, 0)) == (0, 0, 255) and decoded.getpixel((1, 0)) == (255, 255, 255)


def _saved(image, path):
    image.save(path)
    return path


def test_grayscale_palette_cmyk_and_bilevel_decode_to_rgb(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    image = read_rgb(_saved(Image.fromarray(gray), tmp_path / "gray.png"))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (0, 0, 0) and image.getpixel((3, 2)) == (130, 130, 130)
    assert to_pil(gray).getpixel((4, 3)) == (190, 190, 190)  # an H x W array is grayscale
    pal = Image.fromarray(np.array([[0, 1, 2]], np.uint8), mode="P")
    pal.putpalette([255, 0, 0, 0, 128, 0, 1, 2, 3])
    image = read_rgb(_saved(pal, tmp_path / "pal.png"))
    assert [image.getpixel((x, 0)) for x in range(3)] == [(255, 0, 0), (0, 128, 0), (1, 2, 3)]
    cmyk = Image.new("CMYK", (3, 2), (255, 0, 0, 0))  # pure cyan
    cmyk.putpixel((1, 1), (0, 0, 0, 255))  # black ink
    image = read_rgb(_saved(cmyk, tmp_path / "cmyk.tif"))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (0, 255, 255) and image.getpixel((1, 1)) == (0, 0, 0)
    bilevel = Image.fromarray(np.array([[True, False]]))
    image = read_rgb(_saved(bilevel, tmp_path / "bw.png"))
    assert [image.getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (0, 0, 0)]


def test_float_and_unusual_modes_are_refused_with_one_line(tmp_path):
    depth = _saved(Image.fromarray(np.ones((4, 5), np.float32)), tmp_path / "depth.tif")
    with pytest.raises(LitedepthError) as info:
        read_rgb(depth)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{depth}: looks like a depth map") and "mode F" in message
    with pytest.raises(LitedepthError, match="PIL mode HSV is not supported"):
        to_pil(Image.new("HSV", (3, 2)))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 5, 3), np.float32),
        np.zeros((4, 5, 2), np.uint8),
        np.zeros((4, 5, 3, 1), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((0, 5, 3), np.uint8),
    ],
    ids=["float", "two-channels", "4d", "1d", "empty"],
)
def test_bad_array_is_one_line(array):
    with pytest.raises(LitedepthError) as info:
        to_pil(array)
    message = str(info.value)
    assert "\n" not in message and message.startswith(
        "array input: expected uint8 H x W (grayscale), H x W x 3 (RGB) or H x W x 4 (RGBA)"
    )
    assert str(array.shape) in message and str(array.dtype) in message


def test_unlabeled_images_leave_out_depth_maps_and_apply_exif(tmp_path):
    portrait_jpeg(tmp_path / "imgs" / "0.jpg")
    depth_png(tmp_path / "imgs" / "0.png")
    ds = UnlabeledImages(tmp_path / "imgs")
    assert ds.names == ["0"] and ds.load(0)["image"].size == (24, 40)
    (tmp_path / "list.txt").write_text("imgs/0.png\n")  # named in a list: refused when loaded
    with pytest.raises(LitedepthError, match="0.png: looks like a depth map"):
        UnlabeledImages(tmp_path / "list.txt").load(0)
