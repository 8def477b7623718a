"""The web demo: its parts directly, and the whole app driven by a real headless Chromium."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import litedepth
from conftest import files_under, one_line_error, randomise_bn
from litedepth.apps.serve import (
    Session,
    build_demo,
    check_port,
    estimate,
    load_models,
    model_names,
    parse_file_size,
    parse_model_spec,
    write_glb_points,  # Gradio is imported only when the app is built or a request answered
)
from litedepth.camera import read_ply
from litedepth.cli import main
from litedepth.inference import predict

needs_gradio = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("gradio"), reason="the web demo needs the [demo] extra"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


def _photo(path: Path, size=(160, 120)) -> Path:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    arr = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_estimate_gives_the_view_the_cloud_and_the_downloads(tmp_path):
    model = litedepth.create_model("fast-student", input_size=(48, 64)).eval()
    result = estimate(model, Image.open(_photo(tmp_path / "p.png")), max_side=100, out=tmp_path / "out")
    assert "scaled down from 160x120" in result["text"] and "ms" in result["text"]
    assert result["depth"].shape == (75, 100) and result["view"].width > 2 * 100  # photo | depth + colour bar
    png, npy, ply = (Path(f) for f in result["files"])
    assert files_under(tmp_path / "out") == ["depth.npy", "depth.png", "points.glb", "points.ply"]  # no half files
    assert np.load(npy).shape == (75, 100) and Image.open(png).mode.startswith("I")
    points, colors = read_ply(ply)
    assert len(points) == 75 * 100 and colors.dtype == np.uint8
    glb = Path(result["cloud"]).read_bytes()
    assert glb[:4] == b"glTF" and int.from_bytes(glb[8:12], "little") == len(glb)
    with pytest.raises(litedepth.LitedepthError, match="no photo"):
        estimate(model, None, out=tmp_path / "out")


def test_glb_points_layout(tmp_path):
    points = np.array([[0, 0, 1], [1, 2, 3]], np.float32)
    data = write_glb_points(tmp_path / "c.glb", points, np.array([[255, 0, 0], [0, 255, 0]], np.uint8)).read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    import json

    doc = json.loads(data[20 : 20 + json_length])
    assert doc["meshes"][0]["primitives"][0]["mode"] == 0 and doc["accessors"][0]["count"] == 2
    positions = np.frombuffer(data[20 + json_length + 8 : 20 + json_length + 8 + 24], "<f4").reshape(2, 3)
    assert np.array_equal(positions, points * [1, -1, -1])


def test_serve_without_gradio_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the [demo] extra were not installed
    assert main(["serve", "--model", "fast-student"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["litedepth serve: error: the web demo needs Gradio: pip install 'litedepth[demo]'"]


def test_upload_limit_is_a_size_or_one_line():
    assert parse_file_size("20mb") == 20 * 1024**2 and parse_file_size(" 1.5 GB ") == 3 * 1024**3 // 2
    assert parse_file_size("500kb") == 500 * 1024 and parse_file_size(4096) == 4096  # Gradio's units, an int: bytes
    for bad in ("lots", "20", "mb", "-1mb", "0kb", "20 megabytes"):
        with pytest.raises(litedepth.LitedepthError, match=f"--max-file-size {bad}: "):
            parse_file_size(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _student(path: Path, seed: int) -> Path:
    """A small network with its own weights (non-trivial BN, so two seeds give clearly different depth) on disk."""
    import torch

    torch.manual_seed(seed)
    return litedepth.save_model(randomise_bn(litedepth.create_model("fast-student", input_size=(64, 96)), seed), path)


def _depth_of(files) -> np.ndarray:
    return np.load(next(f for f in files if f.endswith(".npy")))


def _gradio_message(excinfo) -> str:
    return excinfo.value.message  # gr.Error's text as the browser shows it (str() quotes it)


def test_model_names_are_explicit_or_the_shortest_distinguishing_path(tmp_path):
    runs = [_student(tmp_path / folder / "run" / "model.safetensors", seed) for seed, folder in enumerate(["x", "y"])]
    lone = _student(tmp_path / "student.safetensors", 2)
    assert parse_model_spec(f"best={runs[0]}") == ("best", str(runs[0]))
    assert parse_model_spec(str(runs[0])) == (None, str(runs[0]))
    assert parse_model_spec("runs/lr=0.1/model.safetensors") == (
        None,
        "runs/lr=0.1/model.safetensors",
    )  # a path, not a name
    entries = [parse_model_spec(str(p)) for p in runs]
    assert model_names(entries, ["fast-student"] * 2) == ["fast-student (x/run)", "fast-student (y/run)"]
    assert model_names([parse_model_spec(str(lone))], ["fast-student"]) == ["fast-student (student.safetensors)"]
    mixed = [parse_model_spec(f"mine={runs[0]}"), parse_model_spec(str(runs[1])), parse_model_spec(str(lone))]
    assert model_names(mixed, ["fast-student"] * 3) == [
        "mine",
        "fast-student (model.safetensors)",  # named ones aside
        "fast-student (student.safetensors)",
    ]
    with pytest.raises(litedepth.LitedepthError, match="x/run/model.safetensors: the same file as --model "):
        model_names(
            [parse_model_spec(str(runs[0])), parse_model_spec(str(tmp_path / "x/../x/run/model.safetensors"))],
            ["fast-student"] * 2,
        )  # one file given twice


@needs_gradio
def test_two_model_files_of_one_name_are_two_entries_each_serving_its_own_model(tmp_path):
    paths = [_student(tmp_path / run / "model.safetensors", seed) for seed, run in enumerate(["runA", "runB"])]
    photo = _photo(tmp_path / "room.png", size=(96, 64))
    with Session(load_models([str(p) for p in paths])) as session:
        demo = build_demo(session)
        dropdown = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")
        assert [value for _, value in dropdown.choices] == ["fast-student (runA)", "fast-student (runB)"]
        served = [
            _depth_of(session.answer(str(photo), name, 0)[3]) for name in ("fast-student (runA)", "fast-student (runB)")
        ]
    for path, depth in zip(paths, served):  # each entry is its own file's model
        assert np.allclose(depth, predict(litedepth.load(path), Image.open(photo)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(served[0], served[1])


@needs_gradio
def test_the_photo_input_hands_over_the_upload_path_and_no_stub_is_written_beside_the_sources(tmp_path):
    from gradio.data_classes import ImageData

    source = Path(litedepth.__file__).parent
    with Session({"student": litedepth.create_model("fast-student", input_size=(48, 64))}) as session:
        demo = build_demo(session)
        photo = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "photo")
        depth_map = tmp_path / "depth.png"
        Image.fromarray(np.zeros((48, 64), np.uint16)).save(depth_map)
        assert photo.preprocess(ImageData(path=str(depth_map))) == str(depth_map)  # undecoded: `read_upload` reads it
        assert photo.preprocess(None) is None
    assert sorted(source.rglob("*.pyi")) == []  # Gradio writes one beside each component class it sees defined


@needs_gradio
def test_repeated_model_names_are_one_line(tmp_path, capsys):
    a, b = (_student(tmp_path / name, seed) for seed, name in enumerate(["a.safetensors", "b.safetensors"]))
    port = str(_free_port())
    line = one_line_error(capsys, ["serve", "--model", f"best={a}", "--model", f"best={b}", "--port", port])
    assert line == (
        f"litedepth serve: error: --model best={b}: the name 'best' is also that of --model best={a}; "
        "give each model a name of its own with NAME=PATH"
    )
    assert "the same file as --model" in one_line_error(
        capsys, ["serve", "--model", str(a), "--model", str(a), "--port", port]
    )
    taken = one_line_error(
        capsys, ["serve", "--model", f"fast-student (b.safetensors)={a}", "--model", str(b), "--port", port]
    )
    assert "the name 'fast-student (b.safetensors)' is also that of" in taken  # an explicit name a derived one repeats


@needs_gradio
def test_depth_maps_and_non_images_get_one_readable_line_without_server_paths(tmp_path):
    import gradio as gr

    uploads = tmp_path / "gradio-cache" / "0123abcd"  # where Gradio puts an upload on the server
    uploads.mkdir(parents=True)
    Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 7).astype(np.uint16)).save(uploads / "depth.png")
    Image.fromarray(np.ones((48, 64), np.float32)).save(uploads / "depth.tif")
    (uploads / "notes.png").write_text("not an image at all")
    truncated = _photo(uploads / "truncated.png").read_bytes()
    (uploads / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    expected = {
        "depth.png": "not a photo: looks like a 16-bit depth map",
        "depth.tif": "not a photo: looks like a 32-bit float depth map",
        "notes.png": "not a readable image: upload a photo",
        "truncated.png": "the uploaded file: not a readable image",
    }
    model = litedepth.create_model("fast-student", input_size=(48, 64)).eval()
    with Session({"student": model}) as session:
        for name, start in expected.items():
            with pytest.raises(gr.Error) as excinfo:
                session.answer(str(uploads / name), "student", 0)
            message = _gradio_message(excinfo)
            assert message.startswith(start) and len(message.splitlines()) == 1, message
            assert str(tmp_path) not in message and "/tmp" not in message and "gradio-cache" not in message
        assert files_under(session.folder) == []  # a refused upload writes nothing
        with pytest.raises(gr.Error) as excinfo:
            session.answer(None, "student", 0)
        assert _gradio_message(excinfo).startswith("no photo")


@needs_gradio
def test_request_files_stay_bounded_and_go_with_the_session(tmp_path):
    model = litedepth.create_model("fast-student", input_size=(48, 64)).eval()
    photo = str(_photo(tmp_path / "room.png", size=(64, 48)))
    session = Session({"student": model}, keep=2)
    for _ in range(7):
        view, cloud, text, files = session.answer(photo, "student", 0)
    kept = files_under(session.folder)
    assert len(kept) == 2 * 4 and not any(".tmp" in name for name in kept)  # the last two requests, whole files only
    assert all(Path(f).is_file() for f in files + [cloud]) and _depth_of(files).shape == (48, 64)
    assert sum(p.stat().st_size for p in session.folder.rglob("*") if p.is_file()) < 2 * 200_000
    session.close()
    assert not session.folder.exists() and session.closed
    session.close()  # a second close does nothing


def test_gradio_cache_is_pruned_to_the_last_requests(tmp_path):
    model = litedepth.create_model("fast-student", input_size=(48, 64)).eval()
    with Session({"student": model}, keep=2) as session:
        (session.cache / "vibe_edit_history").mkdir(parents=True)  # a folder of Gradio's own: never pruned

        def entry(i: int) -> Path:  # what Gradio writes for one file: a folder named by its SHA-256
            path = session.cache / f"{i:064x}" / "file.bin"
            path.parent.mkdir()
            path.write_bytes(bytes(1000))
            return path

        def left() -> set:
            return {int(p.name, 16) if len(p.name) == 64 else p.name for p in session.cache.iterdir()}

        entry(0)  # request 0's upload
        session.request_folder()  # request 0 starts: entry 0 is its
        entry(1)  # request 0's output, request 1's upload
        session.request_folder()  # request 1
        entry(2)
        session.request_folder()  # request 2: entry 0, older than the last two requests, goes
        assert left() == {1, 2, "vibe_edit_history"}
        time.sleep(0.05)
        os.utime(session.cache / f"{1:064x}" / "file.bin")  # Gradio hands entry 1 out again: it is touched
        entry(3)
        session.request_folder()  # request 3: entry 1 counts as used by it
        assert left() == {1, 2, 3, "vibe_edit_history"}
        session.request_folder()  # request 4: entry 2 goes
        assert left() == {1, 3, "vibe_edit_history"}
        session.request_folder()  # request 5
        assert left() == {"vibe_edit_history"}
        assert len(list((session.folder / "requests").iterdir())) == 2  # the request folders: the same bound


@needs_gradio
def test_busy_port_is_one_line_before_anything_is_printed(fast_model, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(litedepth.LitedepthError):
            check_port("127.0.0.1", port)
        capsys.readouterr()
        assert main(["serve", "--model", str(fast_model), "--port", str(port)]) == 2
        out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"litedepth serve: error: --port {port}: 127.0.0.1:{port} is already in use; choose another --port"
    ]
    check_port("127.0.0.1", port)  # free again: no error


def _stop(server: subprocess.Popen) -> None:
    """Stop a demo as a service manager would (SIGTERM), killing it only if it does not stop within 30 s."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(10)


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert server.poll() is None, server.stdout.read().decode()[-2000:]
            assert time.time() < deadline, f"the demo did not start within {seconds:.0f} s"
            time.sleep(0.5)


@needs_gradio
def test_served_demo_answers_through_gradio_and_leaves_no_temporary_files(tmp_path):
    from gradio_client import Client, handle_file

    paths = [_student(tmp_path / run / "model.safetensors", seed) for seed, run in enumerate(["runA", "runB"])]
    Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 7).astype(np.uint16)).save(tmp_path / "depth.png")
    temp = tmp_path / "tmp"  # the server's TMPDIR: what it leaves there is what it would leave in /tmp
    temp.mkdir()
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("GRADIO_TEMP_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "litedepth", "serve", "--port", str(port)]
        + [arg for p in paths for arg in ("--model", str(p))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/", server)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        photo = handle_file(str(_photo(tmp_path / "room.png")))
        for name in ("fast-student (runA)", "fast-student (runB)"):
            assert "ms for a 160x120 photo" in client.predict(photo, name, 0, api_name="/estimate")[2]
        with pytest.raises(Exception, match="not a photo: looks like a 16-bit depth map") as excinfo:
            client.predict(handle_file(str(tmp_path / "depth.png")), "fast-student (runA)", 0, api_name="/estimate")
        assert str(temp) not in str(excinfo.value)
        [folder] = [p.name for p in temp.iterdir()]  # uploads and Gradio's cache live in the server's one folder
        assert folder.startswith("litedepth-serve-")
        _stop(server)
        assert server.returncode == 0 and list(temp.iterdir()) == []
    finally:
        _stop(server)


def _size_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@needs_gradio
@pytest.mark.slow
def test_served_demo_keeps_its_temporary_folder_bounded_over_20_photos(tmp_path):
    from gradio_client import Client, handle_file

    model = _student(tmp_path / "student.safetensors", 0)
    temp = tmp_path / "tmp"  # the server's TMPDIR: its request folder and Gradio's cache live there
    temp.mkdir()
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("GRADIO_TEMP_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "litedepth", "serve", "--model", f"student={model}", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    rng = np.random.default_rng(0)
    sizes = []
    try:
        _wait_for(f"http://127.0.0.1:{port}/", server)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        for i in range(20):  # distinct photos: Gradio's cache shares nothing between them
            photo = tmp_path / f"photo{i}.png"
            Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(photo)
            view, cloud, text, files = client.predict(handle_file(str(photo)), "student", 0, api_name="/estimate")
            assert "ms for a 160x120 photo" in text
            sizes.append(_size_under(temp))
        for served in (view, cloud, *files):  # the last request's files are all still served
            assert urllib.request.urlopen(served["url"], timeout=10).status == 200
    finally:
        _stop(server)
    one = sizes[0]  # a request: its downloads, and Gradio's copies of them and of the upload
    assert max(sizes) < 6 * one, [round(s / one, 1) for s in sizes]  # unbounded, 20 requests took 20x
    assert sizes[-1] > 3 * one  # the last few requests are kept (KEEP_REQUESTS = 4)


@needs_gradio
@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no chromium and chromedriver on this machine (Debian: apt-get install chromium chromium-driver)",
)
def test_browser_uploads_a_photo_and_sees_depth_and_point_cloud(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the [dev] extra)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    model = tmp_path / "student.safetensors"
    litedepth.save_model(litedepth.create_model("fast-student", input_size=(48, 64)), model)
    port = _free_port()
    temp = tmp_path / "tmp"  # the server's TMPDIR
    temp.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "litedepth", "serve", "--model", str(model), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TMPDIR": str(temp)},
        start_new_session=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1100",
        "--use-gl=swiftshader",
        "--enable-unsafe-swiftshader",
    ):
        options.add_argument(flag)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, server)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
        driver.get(url)
        wait = WebDriverWait(driver, 90)
        upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
        upload.send_keys(str(_photo(tmp_path / "room.png")))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photo img")))
        driver.find_element(By.CSS_SELECTOR, "#estimate").click()
        depth = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#depth img")))
        assert depth.get_attribute("src")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#cloud canvas")))
        wait.until(
            lambda d: (
                "ms for a 160x120 photo" in d.find_element(By.CSS_SELECTOR, "#latency textarea").get_attribute("value")
            )
        )
        shot = os.environ.get("LITEDEPTH_SCREENSHOT")  # where the README's screenshot came from
        driver.save_screenshot(shot or str(tmp_path / "demo.png"))
    finally:
        if driver is not None:
            driver.quit()
        _stop(server)
    assert list(temp.iterdir()) == []  # stopped, the server leaves nothing behind
