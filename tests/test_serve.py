"""The web demo: its parts directly, and the whole app driven by a real headless Chromium."""

import os
import shutil
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
from litedepth.camera import read_ply

from litedepth.cli import main
from litedepth.serve import estimate, write_glb_points  # Gradio is imported only when the app is built

needs_gradio = pytest.mark.skipif(not __import__("importlib").util.find_spec("gradio"), reason="the web demo needs the [demo] extra")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


def _photo(path: Path, size=(160, 120)) -> Path:
    y, x = np.mgrid[0:size[1], 0:size[0]]
    arr = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_estimate_gives_the_view_the_cloud_and_the_downloads(tmp_path):
    model = litedepth.create_model("fast-student", input_size=(48, 64)).eval()
    result = estimate(model, Image.open(_photo(tmp_path / "p.png")), max_side=100)
    assert "scaled down from 160x120" in result["text"] and "ms" in result["text"]
    assert result["depth"].shape == (75, 100) and result["view"].width > 2 * 100  # photo | depth + colour bar
    png, npy, ply = (Path(f) for f in result["files"])
    assert np.load(npy).shape == (75, 100) and Image.open(png).mode.startswith("I")
    points, colors = read_ply(ply)
    assert len(points) == 75 * 100 and colors.dtype == np.uint8
    glb = Path(result["cloud"]).read_bytes()
    assert glb[:4] == b"glTF" and int.from_bytes(glb[8:12], "little") == len(glb)
    with pytest.raises(litedepth.LitedepthError, match="no photo"):
        estimate(model, None)


def test_glb_points_layout(tmp_path):
    points = np.array([[0, 0, 1], [1, 2, 3]], np.float32)
    data = write_glb_points(tmp_path / "c.glb", points, np.array([[255, 0, 0], [0, 255, 0]], np.uint8)).read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    import json

    doc = json.loads(data[20:20 + json_length])
    assert doc["meshes"][0]["primitives"][0]["mode"] == 0 and doc["accessors"][0]["count"] == 2
    positions = np.frombuffer(data[20 + json_length + 8:20 + json_length + 8 + 24], "<f4").reshape(2, 3)
    assert np.array_equal(positions, points * [1, -1, -1])


def test_serve_without_gradio_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the [demo] extra were not installed
    assert main(["serve", "--model", "fast-student"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["litedepth serve: error: the web demo needs Gradio: pip install 'litedepth[demo]'"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_gradio
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no chromium and chromedriver on this machine (Debian: apt-get install chromium chromium-driver)")
def test_browser_uploads_a_photo_and_sees_depth_and_point_cloud(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the [dev] extra)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    model = tmp_path / "student.safetensors"
    litedepth.save_model(litedepth.create_model("fast-student", input_size=(48, 64)), model)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "litedepth", "serve", "--model", str(model), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1100",
                 "--use-gl=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(flag)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()[-2000:]
                assert time.time() < deadline, "the demo did not start within 90 s"
                time.sleep(0.5)
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
        wait.until(lambda d: "ms for a 160x120 photo" in d.find_element(By.CSS_SELECTOR, "#latency textarea").get_attribute("value"))
        shot = os.environ.get("LITEDEPTH_SCREENSHOT")  # where the README's screenshot came from
        driver.save_screenshot(shot or str(tmp_path / "demo.png"))
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, 9)
        server.wait(10)
