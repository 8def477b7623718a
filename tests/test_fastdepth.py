"""FastDepth: the ``fastdepth`` architecture and its published NYU weights by name, ``fastdepth:nyu``.

The download test serves the published ``.tflite`` (``../shared/models/fastdepth``) from 127.0.0.1 and is
skipped where ``../shared`` is absent; reading the TFLite's weights needs the ``litert`` extra.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from conftest import files_under, one_line_error, write_image
from litedepth.checkpoint import load_network, save_model
from litedepth.cli import main
from litedepth.deploy.flops import count_parameters
from litedepth.errors import LitedepthError
from litedepth.models import create_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
TFLITE = SHARED / "models" / "fastdepth" / "fast_depth_224_int8.tflite"
PHOTO = SHARED / "data" / "real-rgbd" / "raw" / "metric3d_basement_rgb_00000.jpg"
# mean |float - int8 TFLite| / TFLite over a 224x224 photo: measured 0.0087 on PHOTO, 0.009-0.022 on four real photos
TFLITE_TOLERANCE = 0.03


def test_architecture_has_the_published_widths_and_parameter_count(tmp_path):
    model = create_model("fastdepth").eval()
    assert count_parameters(model) == 1_360_786  # 1,352,225 with BatchNorm folded into the convolutions
    assert model.input_size == (224, 224) and model.mean == (0.0, 0.0, 0.0) and model.std == (1.0, 1.0, 1.0)
    assert model.E.channels == (56, 120, 256, 512) and model.E.reductions == (2, 4, 8, 32)
    state = model.state_dict()
    assert state["E.conv6.3.weight"].shape == (408, 256, 1, 1)  # a pruned width
    assert state["MFF.decode_conv1.0.0.weight"].shape == (512, 1, 5, 5)
    assert state["R.decode_conv6.0.weight"].shape == (1, 16, 1, 1)
    with torch.no_grad():
        for size in [(224, 224), (64, 96), (256, 320)]:
            assert model(torch.rand(2, 3, *size)).shape == (2, 1, *size)
    path = save_model(model, tmp_path / "fd.safetensors")
    again = load_network(path)
    assert again.arch == "fastdepth" and again.input_size == (224, 224) and again.std == (1.0, 1.0, 1.0)


def test_the_decoder_is_nnconv5_with_additive_skips():
    """At multiples of 32 every upsampling is an exact nearest 2x and the skips are added, as the authors' forward."""
    model = create_model("fastdepth").eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        x1, x2, x3, y = model.E(x)
        for i, skip in ((1, None), (2, x3), (3, x2), (4, x1), (5, None)):
            y = torch.nn.functional.interpolate(getattr(model.MFF, f"decode_conv{i}")(y), scale_factor=2)
            y = y if skip is None else y + skip
        torch.testing.assert_close(model(x), model.R(y), rtol=0, atol=0)


class _Server:
    """``body`` at ``/fast_depth_224.tflite`` from 127.0.0.1; ``hits`` counts the downloads."""

    def __init__(self, body: bytes) -> None:
        self.hits = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fast_depth_224.tflite"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Serve bytes as FastDepth's download, into a cache folder of the test's own."""
    servers = []
    monkeypatch.setenv("LITEDEPTH_CACHE", str(tmp_path / "cache"))

    def start(body: bytes) -> _Server:
        servers.append(_Server(body))
        monkeypatch.setenv("LITEDEPTH_FASTDEPTH_URL", servers[-1].url)
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _litert_depth(photo: np.ndarray) -> np.ndarray:
    """The published int8 TFLite on a 224x224x3 uint8 photo, in LiteRT: metres, 224x224."""
    from ai_edge_litert import interpreter

    runner = interpreter.Interpreter(model_path=str(TFLITE), num_threads=1)
    runner.allocate_tensors()
    i, o = runner.get_input_details()[0], runner.get_output_details()[0]
    runner.set_tensor(i["index"], photo[None])
    runner.invoke()
    scale, zero = o["quantization"]
    return (runner.get_tensor(o["index"])[0, :, :, 0].astype(np.float32) - zero) * scale


@pytest.mark.skipif(not TFLITE.is_file(), reason="needs ../shared/models/fastdepth (the published TFLite)")
def test_fastdepth_nyu_downloads_once_converts_and_matches_the_tflite(serve, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    server = serve(TFLITE.read_bytes())
    model = litedepth.load("fastdepth:nyu")
    assert model.arch == "fastdepth" and not model.training and model.metadata["source"] == "fastdepth:nyu"
    assert model.metadata["training"]["sha256"] == "e8957602750f16ac130210868f4403b38b4042f0d10c00b89ec03fc3dc840125"
    assert files_under(tmp_path / "cache") == ["fastdepth/nyu.safetensors"] and server.hits == 1

    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((224, 224), Image.BILINEAR))
    with torch.no_grad():
        ours = model(torch.from_numpy(photo / np.float32(255)).permute(2, 0, 1)[None])[0, 0].numpy()
    lite = _litert_depth(photo)
    assert 0.5 < float(np.median(lite)) < 10  # metres of a room
    assert float(np.mean(np.abs(ours - lite) / lite)) < TFLITE_TOLERANCE

    # the cache answers from now on: the CLI predicts and a teacher resolves without a second download
    write_image(tmp_path / "photos" / "a.jpg", size=(60, 80))
    assert (
        main(
            [
                "predict",
                str(tmp_path / "photos"),
                "--model",
                "fastdepth:nyu",
                "--out",
                str(tmp_path / "out"),
                "--save",
                "npy",
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "out" / "a.npy").shape == (60, 80)
    from litedepth.training.teachers import TorchTeacher, load_teacher

    teacher = load_teacher("fastdepth:nyu")
    assert isinstance(teacher, TorchTeacher) and teacher.source == "fastdepth:nyu"
    assert server.hits == 1


def test_a_wrong_sha256_is_refused_in_one_line_and_leaves_nothing(serve, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    serve(b"TFL3 not the published file")
    write_image(tmp_path / "a.jpg")
    line = one_line_error(
        capsys, ["predict", str(tmp_path / "a.jpg"), "--model", "fastdepth:nyu", "--out", str(tmp_path / "out")]
    )
    assert "fastdepth:nyu" in line and "sha256" in line and "e8957602750f16ac" in line
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_unknown_weights_and_a_wrong_arch_are_one_line():
    with pytest.raises(LitedepthError, match=r"fastdepth:kitti: no weights named 'kitti'; .*fastdepth:nyu"):
        litedepth.load("fastdepth:kitti")
    with pytest.raises(LitedepthError, match="fastdepth:nyu: a fastdepth, not 'hu2021-student'"):
        litedepth.load("fastdepth:nyu", arch="hu2021-student")
