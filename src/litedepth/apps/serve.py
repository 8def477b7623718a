"""``litedepth serve``: a web demo (Gradio) that shows a photo's depth, its point cloud and the latency.

>>> demo = build_demo({"student": litedepth.load("student.safetensors")})
>>> demo.launch(server_name="127.0.0.1")

Needs ``pip install 'litedepth[demo]'``. Upload, drop or paste a photo (or take one with the
webcam), pick a model, and see the photo beside its colourised depth with a colour bar in
metres, a 3-D view of the point cloud, the latency, and downloads of the depth (16-bit PNG in
millimetres, float32 NPY in metres) and the point cloud (PLY). Photos larger than ``max_side``
pixels on their longer side are scaled down first; bad files (a depth map, a file that is no
image) get one readable message that names no server path, not a crash.

Every model has its own name in the dropdown: ``NAME=PATH`` names it, else the name is its
architecture and the shortest end of its path that no other model shares
(``fast-student (runA)``, ``fast-student (runB)``). A `Session` owns one server's temporary
folder: the downloads of its last `KEEP_REQUESTS` requests and, under `serve`, Gradio's own
cache (uploads and the copies of the outputs it serves), pruned to the files of the same last
requests; the folder is removed when the server stops.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import importlib.util
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from ..errors import LitedepthError, first_line

MAX_SIDE = 2048  # longer side (px) a photo is scaled down to before prediction
MAX_FILE_SIZE = "20mb"  # Gradio's upload limit
CLOUD_POINTS = 40_000  # points in the 3-D view (the PLY download keeps every pixel)
KEEP_REQUESTS = 4  # requests whose downloads a server keeps on disk (Gradio serves its own copies)
CACHE_SWEEP_S, CACHE_AGE_S = 300, 900  # Gradio's cache: every 5 min, remove what is older than 15 min
_CACHE_ENTRY = re.compile(r"[0-9a-f]{64}")  # a folder of Gradio's cache: the SHA-256 of the file it holds
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}  # Gradio's (`FileSize`)
NEEDS_GRADIO = "the web demo needs Gradio: pip install 'litedepth[demo]'"
NO_PHOTO = "no photo: upload, drop or paste one first"
NOT_AN_IMAGE = "not a readable image: upload a photo (JPEG, PNG, WebP, BMP or TIFF)"
_DEPTH_BITS = {"F": "32-bit float", "I": "16- or 32-bit integer"}  # other depth-like modes are 16-bit
_UPLOAD = "the uploaded file"  # what a message calls the upload, instead of its path on the server


def gradio_installed() -> None:
    """Refuse with one line a Python without Gradio, without importing it.

    Why: Gradio fixes some of its folders (GRADIO_TEMP_DIR) when it is imported; `serve`
    imports it only once its own temporary folder is set (`gradio_cache_in`).
    """
    try:
        found = importlib.util.find_spec("gradio") is not None
    except (ImportError, ValueError):  # ValueError: a module entry without a spec (None: blocked)
        found = False
    if not found:
        raise LitedepthError(NEEDS_GRADIO)


def require_gradio():
    """Gradio, imported, or a one-line `LitedepthError` saying how to install it."""
    try:
        import gradio
    except ImportError:
        raise LitedepthError(NEEDS_GRADIO) from None
    return gradio


# --- models and their names ------------------------------------------------------------------


def parse_model_spec(spec: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> ``(NAME, PATH)``; a plain spec -> ``(None, spec)``.

    A spec that is an existing file or an architecture name is never split, nor one whose part
    before ``=`` holds a path separator (``runs/lr=0.1/model.safetensors``): names have none.
    """
    from ..models import ARCHITECTURES

    name, sep, path = spec.partition("=")
    if not sep or Path(spec).is_file() or spec in ARCHITECTURES or "/" in name or os.sep in name:
        return None, spec
    if not name.strip() or not path:
        raise LitedepthError(f"--model {spec}: give NAME=PATH with both a name and a model, or just the model")
    return name.strip(), path


def refuse_repeated_names(names: list[str | None], specs: list[str]) -> None:
    """One line for the first name that two ``--model`` share (None: not named yet, skipped).

    Why: the dropdown maps a name to one model, so a second model of the same name would
    silently hide the first (it used to: three ``model.safetensors`` served only the last).
    """
    first = {}
    for name, spec in zip(names, specs):
        if name is None:
            continue
        if name in first:
            raise LitedepthError(
                f"--model {spec}: the name {name!r} is also that of --model {first[name]}; "
                "give each model a name of its own with NAME=PATH"
            )
        first[name] = spec


def refuse_repeated_files(specs: list[str], paths: list[Path]) -> None:
    """One line for an unnamed file given twice (``paths``: the ``specs`` resolved), which no label could tell apart."""
    seen = {}
    for spec, path in zip(specs, paths):
        if path in seen:
            raise LitedepthError(
                f"--model {spec}: the same file as --model {seen[path]}; to offer it twice, name each with NAME=PATH"
            )
        seen[path] = spec


def path_labels(paths: list[Path]) -> list[str]:
    """For each path, the shortest end of it (``runA/model.safetensors``) that ends no other path.

    When several paths share one file name (every run's ``model.safetensors``), the name says
    nothing and is left out: the folders tell them apart (``runA``, ``runB``). One path keeps its
    file name. Equal paths get equal labels (`refuse_repeated_files` refuses them first).
    """
    shared_name = len(paths) > 1 and len({p.name for p in paths}) == 1
    parts = [(p.parent if shared_name else p).parts[1 if p.is_absolute() else 0 :] for p in paths]
    labels = []
    for i, own in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i]
        k = 1
        while k < len(own) and any(q[-k:] == own[-k:] for q in others):
            k += 1
        labels.append("/".join(own[-k:]) or str(paths[i].parent))
    return labels


def model_names(entries: list[tuple[str | None, str]], archs: list[str]) -> list[str]:
    """The dropdown's names of ``entries`` (``parse_model_spec``'s pairs) whose models have ``archs``.

    An explicit name is kept; a file gets ``"ARCH (LABEL)"`` with `path_labels` over the unnamed
    files; an architecture name stays as given. Repeats are refused with one line.
    """
    files = [i for i, (name, spec) in enumerate(entries) if name is None and Path(spec).is_file()]
    paths = [Path(entries[i][1]).resolve() for i in files]
    refuse_repeated_files([entries[i][1] for i in files], paths)
    labels = dict(zip(files, path_labels(paths)))
    names = [
        name or (f"{arch} ({labels[i]})" if i in labels else spec)
        for i, ((name, spec), arch) in enumerate(zip(entries, archs))
    ]
    refuse_repeated_names(names, [spec for _, spec in entries])
    return names


def load_models(specs: list[str]) -> dict:
    """Name -> model for every ``--model`` spec (``NAME=PATH`` or a plain spec), each name unique.

    Each spec is opened by `litedepth.hub.open_model` (a file, ``hu2021:NAME``, an architecture
    name: fresh weights, with one ``warning:`` line). Repeated explicit names are refused before
    anything is loaded.
    """
    from ..hub import open_model

    entries = [parse_model_spec(spec) for spec in specs]
    refuse_repeated_names([name for name, _ in entries], specs)
    models = [open_model(spec) for _, spec in entries]
    names = model_names(entries, [getattr(model, "arch", None) or "model" for model in models])
    return dict(zip(names, models))


# --- reading an upload -----------------------------------------------------------------------


def _header_mode(path: Path) -> str | None:
    """The PIL mode the file's header announces, or None when PIL cannot open it (not an image)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode
    except Image.DecompressionBombError:
        raise LitedepthError(
            "too many pixels: this image is larger than a photo can be here; upload a smaller one"
        ) from None
    except Exception:  # PIL raises many types for files that are not images
        return None


def without_path(message: str, path) -> str:
    """``message`` with the server's path of the upload replaced by "the uploaded file"."""
    for spelling in {str(path), os.path.realpath(path)}:
        message = message.replace(spelling, _UPLOAD)
    return message


def read_upload(photo):
    """The uploaded photo as an RGB PIL image, or a one-line `LitedepthError` that names no server path.

    ``photo``: a file path (what the demo's photo input hands over, undecoded) or a PIL image.
    A depth map (one 16-bit or float channel: `litedepth.fileio.DEPTH_LIKE_MODES`) and a file that
    is no image are refused with a message a visitor can act on; the path of the upload on the
    server means nothing to them and is not theirs to see.
    """
    from PIL import Image

    from ..fileio import DEPTH_LIKE_MODES, read_rgb, to_rgb

    if photo is None:
        raise LitedepthError(NO_PHOTO)
    if isinstance(photo, Image.Image):
        return to_rgb(photo, "the uploaded photo")
    mode = _header_mode(Path(photo))
    if mode is None:
        raise LitedepthError(NOT_AN_IMAGE)
    if mode in DEPTH_LIKE_MODES:
        raise LitedepthError(
            f"not a photo: looks like a {_DEPTH_BITS.get(mode, '16-bit')} depth map "
            f"(one channel, PIL mode {mode}); upload an RGB or grayscale photo"
        )
    try:
        return read_rgb(photo)
    except LitedepthError as exc:  # a damaged file or an unusual mode: read_rgb's words, without the path
        raise LitedepthError(without_path(str(exc), photo)) from None


# --- one request -----------------------------------------------------------------------------


def write_glb_points(path: str | Path, points: np.ndarray, colors: np.ndarray) -> Path:
    """Coloured points as a binary glTF 2.0 file (one POINTS primitive): what the 3-D view shows.

    glTF's frame is y up, z towards the viewer, so the camera frame's y and z are negated.
    Written atomically: the 3-D view never loads half a file.
    """
    from ..fileio import atomic_path

    positions = (points * np.array([1, -1, -1], np.float32)).astype("<f4")
    rgba = np.concatenate([colors.astype(np.uint8), np.full((len(colors), 1), 255, np.uint8)], axis=1)
    blob = positions.tobytes() + rgba.tobytes()
    doc = {
        "asset": {"version": "2.0", "generator": "litedepth"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "mode": 0}]}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": positions.nbytes},
            {"buffer": 0, "byteOffset": positions.nbytes, "byteLength": rgba.nbytes},
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": len(points),
                "type": "VEC3",
                "min": positions.min(axis=0).tolist() if len(points) else [0, 0, 0],
                "max": positions.max(axis=0).tolist() if len(points) else [0, 0, 0],
            },
            {"bufferView": 1, "componentType": 5121, "normalized": True, "count": len(points), "type": "VEC4"},
        ],
    }
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(
            struct.pack("<4sII", b"glTF", 2, total)
            + struct.pack("<I4s", len(text), b"JSON")
            + text
            + struct.pack("<I4s", len(blob), b"BIN\0")
            + blob
        )
    return path


def _fit(image, max_side: int):
    """``image`` scaled down to ``max_side`` on its longer side, and the note the latency line gets."""
    from PIL import Image

    if max(image.size) <= max_side:
        return image, ""
    scale = max_side / max(image.size)
    original = image.size
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    return image, f" (scaled down from {original[0]}x{original[1]})"


def write_downloads(out: Path, depth: np.ndarray, image, camera) -> tuple[list[str], str]:
    """The request's files in ``out``, each written atomically: ``([PNG16, NPY, PLY], GLB for the 3-D view)``."""
    from ..camera import back_project, write_ply
    from ..fileio import save_npy, write_png16_mm

    out.mkdir(parents=True, exist_ok=True)
    png, npy, ply = out / "depth.png", out / "depth.npy", out / "points.ply"
    write_png16_mm(png, depth)
    save_npy(npy, depth)
    points, colors = back_project(depth, np.asarray(image), camera)
    write_ply(ply, points, colors)
    keep = (
        np.linspace(0, len(points) - 1, min(len(points), CLOUD_POINTS)).astype(int) if len(points) else np.zeros(0, int)
    )
    cloud = write_glb_points(out / "points.glb", points[keep], colors[keep])
    return [str(png), str(npy), str(ply)], str(cloud)


def estimate(
    model, photo, max_side: int = MAX_SIDE, focal: float | None = None, cmap: str = "magma_r", *, out: str | Path
) -> dict:
    """Everything the demo shows for one photo: ``{"view", "depth", "files", "cloud", "text"}``.

    ``photo``: a PIL image or a file path (`read_upload`). The downloads are written into the
    folder ``out``, which the caller owns (a `Session` keeps those of its last few requests).
    """
    import torch

    from ..camera import for_photo
    from ..inference import predict
    from .visualize import side_by_side

    image, note = _fit(read_upload(photo), max_side)
    start = time.perf_counter()
    with torch.inference_mode():
        depth = predict(model, image)
    latency_ms = (time.perf_counter() - start) * 1000
    depth, camera = for_photo(depth, model.camera, float(focal) if focal else None)
    files, cloud = write_downloads(Path(out), depth, image, camera)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    text = (
        f"{getattr(model, 'arch', 'model')}: {latency_ms:.0f} ms for a {image.width}x{image.height} photo{note}; "
        f"depth {valid.min():.2f}-{valid.max():.2f} m"
        if valid.size
        else "no valid depth"
    )
    return {
        "view": side_by_side(image, depth, colorbar=True, cmap=cmap),
        "depth": depth,
        "files": files,
        "cloud": cloud,
        "text": text,
    }


# --- one server ------------------------------------------------------------------------------


class Session:
    """One server's models and its temporary folder, which holds the downloads of its last ``keep`` requests.

    Why: every request writes a PNG16, an NPY, a PLY and a GLB (tens of MB for a large photo); a
    demo left running must not fill the disk, and nothing may stay in /tmp once it stops. The
    folder (`tempfile.mkdtemp`) is removed by `close` (or ``with``), and at the latest when the
    session is garbage-collected or the interpreter exits. `answer` is what the demo's button runs.
    Gradio's cache goes in ``cache`` under `serve` (`gradio_cache_in`): Gradio keeps a copy of
    every upload and output there, so each request also prunes it to about the last ``keep``
    requests' files (`prune_cache`).
    """

    def __init__(self, models: dict, max_side: int = MAX_SIDE, keep: int = KEEP_REQUESTS):
        if not models:
            raise LitedepthError("no model to serve: give at least one --model")
        self.models, self.max_side, self.keep = dict(models), max_side, max(1, keep)
        self.folder = Path(tempfile.mkdtemp(prefix="litedepth-serve-"))
        self.cache = self.folder / "gradio"  # Gradio's cache (GRADIO_TEMP_DIR) under `serve`
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self._recent: collections.deque[Path] = collections.deque()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._cached: dict[str, int] = {}  # cache entry -> number of the request it was last seen new at
        self._swept = 0.0  # time.time() of the last `prune_cache`

    def request_folder(self) -> Path:
        """A new folder for one request's files; those of requests older than the last ``keep`` are removed."""
        with self._lock:
            number = next(self._numbers)
            folder = self.folder / "requests" / f"{number:06d}"
            folder.mkdir(parents=True)
            self._recent.append(folder)
            while len(self._recent) > self.keep:
                shutil.rmtree(self._recent.popleft(), ignore_errors=True)
            self.prune_cache(number)
        return folder

    def prune_cache(self, number: int) -> None:
        """Remove the entries of Gradio's cache that no request of the last ``keep`` (``number`` the newest) made or used.

        Gradio copies each upload and output into a folder of its own, named by the file's hash,
        and keeps it until its time-based sweep (`CACHE_AGE_S`). An entry belongs to the request
        at whose start it was first seen, or seen changed (Gradio touches a copy it hands out
        again): the previous request's outputs and this request's upload. The rest goes now.
        Only hash-named folders are touched: Gradio's other folders stay.
        """
        if not self.cache.is_dir():
            return
        now = time.time()
        for entry in self.cache.iterdir():
            if _CACHE_ENTRY.fullmatch(entry.name) and (
                entry.name not in self._cached or _last_change(entry) >= self._swept
            ):
                self._cached[entry.name] = number
        self._swept = now
        for name, seen in list(self._cached.items()):
            if seen <= number - self.keep:
                shutil.rmtree(self.cache / name, ignore_errors=True)
                del self._cached[name]

    def model(self, name: str):
        """The model of dropdown entry ``name`` (an API caller may send any name: one line then)."""
        if name not in self.models:
            raise LitedepthError(f"no model named {name!r}; choose one of: {', '.join(self.models)}")
        return self.models[name]

    def answer(self, photo, name: str, focal: float | None = 0):
        """The demo's handler: ``(view, cloud, latency line, downloads)`` for ``photo`` by model ``name``.

        Any problem is a `gradio.Error` with one readable line and no server path: a bad upload
        says what it is (`read_upload`), anything unexpected names only its type.
        """
        gr = require_gradio()
        try:
            image = read_upload(photo)
            result = estimate(
                self.model(name), image, max_side=self.max_side, focal=focal or None, out=self.request_folder()
            )
        except LitedepthError as exc:
            message = without_path(str(exc), photo) if isinstance(photo, (str, Path)) else str(exc)
            raise gr.Error(message, print_exception=False) from None  # the visitor's problem: no traceback in the log
        except Exception as exc:  # a message, not a crash; the traceback stays in the server's log
            raise gr.Error(f"could not estimate depth for this photo ({exc.__class__.__name__})") from exc
        return result["view"], result["cloud"], result["text"], result["files"]

    @property
    def closed(self) -> bool:
        return not self._remove.alive

    def close(self) -> None:
        """Remove the temporary folder and everything in it (a second call does nothing)."""
        self._remove()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _last_change(entry: Path) -> float:
    """The latest status change (ctime: written, moved in or touched) of a cache folder or a file in it; 0 if gone."""
    try:
        return max([entry.stat().st_ctime] + [p.stat().st_ctime for p in entry.iterdir()])
    except OSError:
        return 0.0


# --- the app ---------------------------------------------------------------------------------


def photo_input(gr, **kwargs):
    """A `gr.Image` that hands the handler the uploaded file's path, undecoded.

    Why: `gr.Image` opens every upload with PIL before the handler runs, so a file that is no
    image fails inside Gradio with a message naming the server's temporary path, and a 16-bit
    depth map is silently squashed to 8-bit RGB. Here `read_upload` reads the file and answers
    either with one line. Pasted data URLs still go through Gradio (it writes them to a file).
    """

    class PhotoInput(gr.Image):
        is_template = True  # the browser side is gr.Image's

        def preprocess(self, payload):
            if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
                return str(payload.path)
            return super().preprocess(payload)

    return PhotoInput(type="filepath", image_mode=None, **kwargs)


def build_demo(models, max_side: int = MAX_SIDE):
    """A Gradio Blocks app over ``models``: a `Session`, or a dict name -> model (`litedepth.load`).

    A dict gets a `Session` of its own (``max_side``), removed with the app. Gradio deletes the
    files of its cache older than `CACHE_AGE_S` every `CACHE_SWEEP_S` seconds, and all of them
    when the server stops.
    """
    gr = require_gradio()
    session = models if isinstance(models, Session) else Session(models, max_side=max_side)
    names = list(session.models)
    with gr.Blocks(title="litedepth", delete_cache=(CACHE_SWEEP_S, CACHE_AGE_S)) as demo:
        gr.Markdown(
            "# litedepth\nMonocular depth in metres from one photo. Upload, drop or paste a photo, or use the webcam."
        )
        with gr.Row():
            with gr.Column():
                photo = photo_input(gr, sources=["upload", "webcam", "clipboard"], label="photo", elem_id="photo")
                model = gr.Dropdown(names, value=names[0], label="model", elem_id="model")
                focal = gr.Number(
                    value=0, label="your camera's focal length in pixels (0: the training camera's)", elem_id="focal"
                )
                button = gr.Button("Estimate depth", variant="primary", elem_id="estimate")
            with gr.Column():
                view = gr.Image(label="photo | depth (colour bar in metres)", elem_id="depth", interactive=False)
                cloud = gr.Model3D(label="point cloud", display_mode="point_cloud", elem_id="cloud")
                text = gr.Textbox(label="latency", elem_id="latency", interactive=False)
                files = gr.File(
                    label="downloads: depth PNG16 (mm), NPY (m), PLY point cloud",
                    file_count="multiple",
                    elem_id="files",
                )
        button.click(
            session.answer, inputs=[photo, model, focal], outputs=[view, cloud, text, files], api_name="estimate"
        )
    return demo


def check_port(host: str, port: int) -> None:
    """Refuse with one line a ``host:port`` that cannot be listened on, before anything is loaded or printed.

    Why: Gradio finds out only in ``launch``, after the URL line, and in several lines of its
    own. The probe sets SO_REUSEADDR as uvicorn does, so a port a stopped server left in
    TIME_WAIT is not called busy; it is closed at once (another program may take the port in
    between: `serve` then still says so in one line).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise LitedepthError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LitedepthError(f"--port {port}: {host}:{port} is already in use; choose another --port") from None
            raise LitedepthError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


@contextlib.contextmanager
def gradio_cache_in(folder: Path):
    """Point Gradio's cache (uploads, the outputs it serves) at ``folder`` for the ``with`` block.

    Why: by default it is a /tmp/gradio shared by every app and never emptied; inside the
    session's folder it goes when the session does. Gradio reads GRADIO_TEMP_DIR when it is
    imported (a few folders), when a component or the server is made and on each request, so
    the block must span importing (where this process has not yet), building and launching.
    """
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Make SIGTERM (``kill``, a service manager) stop the server as Ctrl-C does.

    Why: Python's default for SIGTERM ends the process without running ``finally`` blocks, and
    one of them removes the server's temporary folder. Only the main thread can set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_file_size(size: str | int) -> int:
    """An upload limit (``"20mb"``, ``"1.5 GB"``, ``"500kb"``, or bytes as an int) in bytes; one line if it is none.

    Why: Gradio parses it only in ``launch``, after the models are loaded, with a traceback.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        number, unit = size, "b"
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)\s*", str(size), re.IGNORECASE)
        if match is None:
            raise LitedepthError(f"--max-file-size {size}: give a number and a unit, such as 20mb, 500kb or 1gb")
        number, unit = float(match.group(1)), match.group(2).lower()
    limit = int(number * _SIZE_UNITS[unit])
    if limit < 1:
        raise LitedepthError(f"--max-file-size {size}: must be at least 1 byte")
    return limit


def serve(
    specs: list[str],
    host: str = "127.0.0.1",
    port: int = 7860,
    max_side: int = MAX_SIDE,
    max_file_size: str = MAX_FILE_SIZE,
    keep: int = KEEP_REQUESTS,
) -> None:
    """Load every spec (``NAME=PATH`` or a plain `litedepth.load` spec) and serve the demo until interrupted.

    A bad upload limit, a busy port, a repeated name or a bad model is one `LitedepthError` before
    anything is printed.
    Ctrl-C or SIGTERM stops the server, and its temporary folder is removed.
    """
    upload_limit = parse_file_size(max_file_size)
    gradio_installed()
    check_port(host, port)
    models = load_models(specs)
    with (
        sigterm_as_interrupt(),
        Session(models, max_side=max_side, keep=keep) as session,
        gradio_cache_in(session.cache),
    ):
        demo = build_demo(session)
        print(f"litedepth serve: http://{host}:{port} ({', '.join(models)})", flush=True)
        try:
            demo.launch(server_name=host, server_port=port, max_file_size=upload_limit, show_error=True, quiet=True)
        except OSError as exc:  # the port was taken after check_port, say
            raise LitedepthError(f"--port {port}: cannot serve on {host}:{port} ({first_line(exc)})") from None
