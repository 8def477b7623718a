"""`litedepth.hub`: the authors' networks by name (``hu2021:NAME``), downloaded once into the cache.

Fully offline: the "authors' archive" is a zip built here from real networks in the authors' format
(plain state dicts, teachers with DataParallel's ``module.`` prefix), served from 127.0.0.1.
"""

from __future__ import annotations

import http.server
import io
import os
import socket
import subprocess
import sys
import threading
import time
import types
import zipfile

import pytest
import torch

import litedepth
from conftest import files_under, one_line_error, randomise_bn, write_image
from litedepth.cache import cache_dir
from litedepth.cli import main
from litedepth.downloads import STALE_AFTER_S, is_stale_download
from litedepth.errors import LitedepthError
from litedepth.pretrained import HU2021, hu2021_networks

STUDENT, TEACHER = "N_s_X_U_unlabel", "N_t_X"


def _network(arch: str, seed: int) -> torch.nn.Module:
    """A network whose weights no fresh one shares: BN statistics and a perturbation of every parameter."""
    torch.manual_seed(seed)
    model = randomise_bn(litedepth.create_model(arch), seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 1e-2)
    return model.eval()


def _saved(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def student():
    return _network("hu2021-student", 1)


@pytest.fixture(scope="module")
def student_zip(student):
    """The authors' layout (``runs/NAME.pt``) with one student, and a macOS resource-fork copy to skip."""
    return _zip({f"runs/{STUDENT}.pt": _saved(student.state_dict()), f"__MACOSX/runs/._{STUDENT}.pt": b"\0junk"})


class Server:
    """``files``: URL path -> bytes served from 127.0.0.1 (anything else is a 404); ``hits``: the paths asked."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        files, hits = self.files, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def serve(self, path: str, body: bytes | None, monkeypatch) -> str:
        """Serve ``body`` at ``path`` (None: a 404) and point ``LITEDEPTH_HU2021_URL`` at it."""
        if body is not None:
            self.files[path] = body
        url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        monkeypatch.setenv("LITEDEPTH_HU2021_URL", url)
        return url


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and an archive URL that nothing listens on unless a test serves one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LITEDEPTH_CACHE", str(folder))
    monkeypatch.setenv("LITEDEPTH_HU2021_URL", "http://127.0.0.1:9/nothing-here.zip")
    return folder


def _same_weights(model, expected) -> bool:
    state, want = model.state_dict(), expected.state_dict()
    return state.keys() == want.keys() and all(torch.equal(state[k], want[k]) for k in want)


def test_download_caches_once_and_loads_the_authors_weights(server, student, cache, monkeypatch):
    teacher = _network("hu2021-teacher", 2)
    body = _zip(
        {
            f"runs/{STUDENT}.pt": _saved(student.state_dict()),
            f"runs/{TEACHER}.pt": _saved({f"module.{k}": v for k, v in teacher.state_dict().items()}),  # DataParallel
            "runs/notes.txt": b"not a network",
        }
    )
    server.serve("/networks.zip", body, monkeypatch)
    model = litedepth.load(f"hu2021:{STUDENT}")
    assert model.arch == "hu2021-student" and not model.training and _same_weights(model, student)
    assert model.metadata["source"] == f"hu2021:{STUDENT}" and model.metadata["format"] == "authors-pt"
    assert server.hits == ["/networks.zip"]
    # every network of the archive was checked and cached; nothing else is left in the cache
    assert files_under(cache) == [f"hu2021/{STUDENT}.pt", f"hu2021/{TEACHER}.pt"]
    again = litedepth.load(f"hu2021:{STUDENT}")
    assert _same_weights(again, student)
    loaded_teacher = litedepth.load(f"hu2021:{TEACHER}", arch="hu2021-teacher")
    assert loaded_teacher.arch == "hu2021-teacher" and _same_weights(loaded_teacher, teacher)
    assert server.hits == ["/networks.zip"]  # the cache answered: no second download

    from litedepth.training.teachers import TorchTeacher, load_teacher

    as_teacher = load_teacher(f"hu2021:{TEACHER}")
    assert isinstance(as_teacher, TorchTeacher) and as_teacher.source == f"hu2021:{TEACHER}"
    with pytest.raises(LitedepthError, match=rf"hu2021:{TEACHER}: a hu2021-teacher, not 'hu2021-student'"):
        litedepth.load(f"hu2021:{TEACHER}", arch="hu2021-student")
    # a name the archive lacks: one line, after one more download that changes nothing
    with pytest.raises(LitedepthError) as info:
        litedepth.load("hu2021:N_s_X")
    message = str(info.value)
    assert "\n" not in message and message.startswith("hu2021:N_s_X: the download from http://127.0.0.1:")
    assert f"holds no N_s_X.pt (it holds {STUDENT}.pt, {TEACHER}.pt)" in message
    assert len(server.hits) == 2 and files_under(cache) == [f"hu2021/{STUDENT}.pt", f"hu2021/{TEACHER}.pt"]


def test_predict_and_info_by_name(server, student_zip, cache, tmp_path, monkeypatch, capsys):
    assert main(["info", "hu2021:"]) == 0
    out = capsys.readouterr().out
    assert str(cache / "hu2021") in out and "0 of 8 cached" in out
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.split()[0] in HU2021}
    assert rows == {name: [net.arch, "no"] for name, net in HU2021.items()}

    server.serve("/networks.zip", student_zip, monkeypatch)
    photo = write_image(tmp_path / "photo.jpg", size=(60, 80))
    out_dir = tmp_path / "d"
    assert main(["predict", str(photo), "--model", f"hu2021:{STUDENT}", "--out", str(out_dir)]) == 0
    captured = capsys.readouterr()
    assert (out_dir / "photo.png").is_file() and captured.err == ""
    assert server.hits == ["/networks.zip"]

    assert main(["info", "--model", "hu2021:"]) == 0
    out = capsys.readouterr().out
    assert "1 of 8 cached" in out
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines() if line.split()[0] in HU2021}
    assert rows[STUDENT] == "yes" and sum(state == "yes" for state in rows.values()) == 1
    assert [r["name"] for r in hu2021_networks() if r["cached"]] == [STUDENT]
    assert main(["info", f"hu2021:{STUDENT}"]) == 0
    out = capsys.readouterr().out
    assert "architecture : hu2021-student" in out and "1,673,905" in out and f'"source": "hu2021:{STUDENT}"' in out


def _student_pt_zip(data: bytes) -> bytes:
    return _zip({f"{STUDENT}.pt": data})


@pytest.mark.parametrize(
    "case, body, expected",
    [
        ("not a zip", b"<html>quota exceeded</html>", "is not a zip archive"),
        ("a damaged zip", None, "is a damaged archive"),
        ("no state dict", _student_pt_zip(b"not a torch file"), "is not the authors' hu2021-student: not a loadable"),
        ("other weights", "fast", "is not the authors' hu2021-student: does not match hu2021-student"),
        ("404", "404", "failed (HTTP 404"),
    ],
)
def test_a_failed_download_is_one_line_and_leaves_no_file(
    case, body, expected, server, student_zip, cache, tmp_path, monkeypatch, capsys
):
    if case == "a damaged zip":  # a flipped byte inside the stored .pt: the CRC check fails on reading
        damaged = bytearray(student_zip)
        damaged[len(damaged) // 3] ^= 0xFF
        body = bytes(damaged)
    elif body == "fast":  # a real network of another architecture: its keys do not fit strictly
        body = _student_pt_zip(_saved(litedepth.create_model("fast-student").state_dict()))
    url = server.serve("/networks.zip", None if body == "404" else body, monkeypatch)
    photo = write_image(tmp_path / "photo.jpg")
    line = one_line_error(capsys, ["predict", str(photo), "--model", f"hu2021:{STUDENT}", "--out", str(tmp_path / "d")])
    assert line.startswith(f"litedepth predict: error: hu2021:{STUDENT}: ") and url in line and expected in line
    assert not cache.exists()  # no partial file, no temporary folder, no empty cache folder
    assert server.hits == ["/networks.zip"]
    if case == "404":  # the way round: the file given by hand
        assert f"--model PATH/{STUDENT}.pt" in line and str(cache / "hu2021") in line


def test_a_pinned_sha256_refuses_other_bytes_and_takes_its_own(server, student_zip, cache, monkeypatch):
    """Where a network's sha256 is known (`Hu2021Network.sha256`), the file in the archive must have it."""
    import hashlib

    with zipfile.ZipFile(io.BytesIO(student_zip)) as zf:
        pinned = hashlib.sha256(zf.read(f"runs/{STUDENT}.pt")).hexdigest()
    url = server.serve("/networks.zip", student_zip, monkeypatch)
    monkeypatch.setitem(HU2021, STUDENT, HU2021[STUDENT]._replace(sha256="0" * 64))
    with pytest.raises(LitedepthError) as info:
        litedepth.load(f"hu2021:{STUDENT}")
    assert str(info.value) == (
        f"hu2021:{STUDENT}: {STUDENT}.pt in the download from {url} has sha256 {pinned}, "
        f"not the published file's {'0' * 64}"
    )
    assert not cache.exists()  # refused before anything was moved into the cache
    monkeypatch.setitem(HU2021, STUDENT, HU2021[STUDENT]._replace(sha256=pinned))
    assert litedepth.load(f"hu2021:{STUDENT}").arch == "hu2021-student"


def test_unknown_names_are_one_line_listing_the_known_ones(capsys, tmp_path):
    with pytest.raises(LitedepthError) as info:
        litedepth.load("hu2021:N_s_X_U_unlable")
    message = str(info.value)
    assert message.startswith("hu2021:N_s_X_U_unlable: no network named 'N_s_X_U_unlable'")
    assert "did you mean hu2021:N_s_X_U_unlabel?" in message and ", ".join(HU2021) in message
    with pytest.raises(LitedepthError, match="hu2021:: give a network's name; the authors released: N_t_X, "):
        litedepth.load("hu2021:")
    line = one_line_error(
        capsys,
        ["predict", str(write_image(tmp_path / "p.jpg")), "--model", "hu2021:nope", "--out", str(tmp_path / "d")],
    )
    assert "no network named 'nope'" in line and "N_s_X_U_label_no_KD" in line
    assert sorted(HU2021) == sorted(
        [
            "N_t_X",
            "N_t_X_U_label",
            "N_s_X_no_KD",
            "N_s_X_U_label_no_KD",
            "N_s_X",
            "N_s_U_unlabel",
            "N_s_X_U_unlabel",
            "N_s_X_U_label",
        ]
    )
    assert {net.arch for name, net in HU2021.items() if name.startswith("N_t")} == {"hu2021-teacher"}
    assert {net.arch for name, net in HU2021.items() if name.startswith("N_s")} == {"hu2021-student"}


def test_google_drive_goes_through_gdown_and_without_it_says_which_extra(student_zip, cache, monkeypatch, capsys):
    monkeypatch.delenv("LITEDEPTH_HU2021_URL")  # the authors' own link
    monkeypatch.setitem(sys.modules, "gdown", None)  # as if the [hub] extra were not installed
    with pytest.raises(LitedepthError) as info:
        litedepth.load(f"hu2021:{STUDENT}")
    assert "\n" not in str(info.value) and "needs gdown: pip install 'litedepth[hub]'" in str(info.value)
    assert files_under(cache) == []

    asked = []

    def download(url=None, output=None, quiet=False, id=None, **kwargs):  # gdown's signature, as far as used
        asked.append(id)
        with open(output, "wb") as f:
            f.write(student_zip)
        return output

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=download))
    assert litedepth.load(f"hu2021:{STUDENT}").arch == "hu2021-student"
    assert asked == ["1yr5S5FIheL1mUfBzVJ8KqcIq9JP-jd4z"] and files_under(cache) == [f"hu2021/{STUDENT}.pt"]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG cache folder of Linux and other Unixes")
def test_cache_folder_and_a_file_url(student_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "cache"  # LITEDEPTH_CACHE first
    monkeypatch.delenv("LITEDEPTH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "litedepth"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG specification: absolute paths only
    assert cache_dir() == tmp_path / "home" / ".cache" / "litedepth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "litedepth"
    # a copy of the archive on disk, by a file:// URL
    archive = tmp_path / "networks.zip"
    archive.write_bytes(student_zip)
    monkeypatch.setenv("LITEDEPTH_HU2021_URL", archive.as_uri())
    assert litedepth.load(f"hu2021:{STUDENT}").arch == "hu2021-student"
    assert (tmp_path / "home" / ".cache" / "litedepth" / "hu2021" / f"{STUDENT}.pt").is_file()


def _closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_says_so_and_how_to_give_the_file_by_hand(cache, tmp_path, monkeypatch, capsys):
    cache.parent.mkdir(exist_ok=True)
    monkeypatch.setenv("LITEDEPTH_HU2021_URL", f"http://127.0.0.1:{_closed_port()}/networks.zip")
    photo = write_image(tmp_path / "photo.jpg")
    line = one_line_error(capsys, ["predict", str(photo), "--model", f"hu2021:{STUDENT}", "--out", str(tmp_path / "d")])
    assert f"hu2021:{STUDENT}: the download from http://127.0.0.1:" in line
    assert "failed (could not connect to 127.0.0.1: connection refused)" in line
    assert f"--model PATH/{STUDENT}.pt" in line and str(cache / "hu2021") in line
    assert not cache.exists() and not (tmp_path / "d").exists()

    # requests and urllib3 (gdown's way to Google Drive) wrap the same refusal in long texts: the same few words
    requests = pytest.importorskip("requests")
    url = f"http://127.0.0.1:{_closed_port()}/uc"

    def download(url_=None, output=None, quiet=False, id=None, **kwargs):
        requests.get(url, timeout=5)  # a real connection attempt, refused

    monkeypatch.delenv("LITEDEPTH_HU2021_URL")  # the authors' Google Drive link
    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=download))
    with pytest.raises(LitedepthError) as info:
        litedepth.load(f"hu2021:{STUDENT}")
    message = str(info.value)
    assert "\n" not in message and "(could not connect to drive.google.com: connection refused)" in message
    assert "HTTPConnectionPool" not in message and not cache.exists()


class _Stalling(http.server.BaseHTTPRequestHandler):
    """Announces a large archive, sends its first bytes, then holds the connection until ``release`` is set."""

    release = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(50 << 20))
        self.end_headers()
        self.wfile.write(b"PK" + b"\0" * (3 << 20))  # more than one chunk of the reader: some reaches the disk
        self.wfile.flush()
        self.release.wait(60)

    def log_message(self, *args):
        pass


def test_a_killed_downloads_leftovers_are_cleaned_on_the_next_call(server, student_zip, cache, monkeypatch):
    stalling = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    threading.Thread(target=stalling.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = {**os.environ, "LITEDEPTH_HU2021_URL": f"http://127.0.0.1:{stalling.server_address[1]}/networks.zip"}
    child = subprocess.Popen(
        [sys.executable, "-c", f"import litedepth; litedepth.load('hu2021:{STUDENT}')"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in cache.glob("hu2021/.download-*/archive")):
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read() if child.poll() else ""
            time.sleep(0.05)
    finally:
        child.kill()  # SIGKILL: no finally block of the child runs
        child.wait()
        _Stalling.release.set()
        stalling.shutdown()
        stalling.server_close()
    (leftover,) = cache.glob("hu2021/.download-*")
    assert f"-{child.pid}-" in leftover.name and is_stale_download(leftover)
    # a download still running (this process) is left alone, unless it is older than a day
    running = cache / "hu2021" / f"{leftover.name.split(f'-{child.pid}-')[0]}-{os.getpid()}-live"
    running.mkdir()
    assert not is_stale_download(running)
    assert is_stale_download(running, now=time.time() + STALE_AFTER_S + 1)

    server.serve("/networks.zip", student_zip, monkeypatch)
    assert litedepth.load(f"hu2021:{STUDENT}").arch == "hu2021-student"
    assert not leftover.exists() and running.is_dir()  # the killed one's removed, the live one's kept
    running.rmdir()
    assert files_under(cache) == [f"hu2021/{STUDENT}.pt"] and not list(cache.glob("hu2021/.download-*"))


def test_a_download_cut_short_says_so(cache, monkeypatch):
    class Cut(_Stalling):  # closes the connection after 3 MB of the 50 MB it announced
        release = threading.Event()

    Cut.release.set()
    cutting = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=cutting.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("LITEDEPTH_HU2021_URL", f"http://127.0.0.1:{cutting.server_address[1]}/networks.zip")
    try:
        with pytest.raises(LitedepthError, match=r"the connection to 127\.0\.0\.1 broke off after 3,145,730 of "):
            litedepth.load(f"hu2021:{STUDENT}")
    finally:
        cutting.shutdown()
        cutting.server_close()
    assert not cache.exists()
