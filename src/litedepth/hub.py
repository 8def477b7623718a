"""The one way to open a depth model: any spec the CLI's ``--model`` takes -> a model in eval mode.

>>> model = load("student.safetensors")           # ours: architecture and input size from its metadata
>>> model = load("N_s_X_U_unlabel.pt")            # an authors' file (architecture guessed from its keys)
>>> model = load("hu2021:N_s_X_U_unlabel")        # the authors' network by name, downloaded once into the cache
>>> model = load("fastdepth:nyu")                 # FastDepth's published NYU weights, downloaded and converted once
>>> model = load("student.onnx")                  # ONNX Runtime, CPU
>>> model = load("fast-student")                  # fresh weights, for trying the tools (UntrainedWeightsWarning)
>>> depth = model.predict("room.jpg")             # H x W float32, metres

``hu2021:NAME`` names one of the eight networks the authors of Hu et al. 2021 released (`HU2021`;
``litedepth info hu2021:`` lists them). They are looked up in ``<cache>/hu2021/NAME.pt``, where
``<cache>`` is ``$LITEDEPTH_CACHE``, else the user cache folder (``$XDG_CACHE_HOME/litedepth``,
by default ``~/.cache/litedepth``). When absent, the authors' archive (`HU2021_URL`, or
``$LITEDEPTH_HU2021_URL``) is downloaded into a temporary folder inside the cache folder and
unpacked (a zip; the ``NAME.pt`` files in whatever folder); every network in it is checked by
loading it strictly with its architecture, and only then moved into place: a failed download
leaves nothing behind. Google Drive links need ``gdown`` (``pip install 'litedepth[hub]'``);
other URLs (``https://``, ``http://``, ``file://``) are read by the standard library.

`load` never imports the deployment code above it. ONNX Runtime (`litedepth.runtimes.onnx`)
is imported lazily, when it runs a model (an ``.onnx`` file, or ``backend="onnxruntime"``).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple, Protocol

import torch

from .checkpoint import load_network, load_state_strict, save_model
from .errors import LitedepthError, first_line, is_disk_full, reason_of
from .models import ARCHITECTURES, DepthNet, create_model

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".tar", ".ckpt", ".xml", ".tflite", ".param", ".mlpackage")
BACKENDS = ("torch", "onnxruntime", "openvino")  # a network or an .onnx file may run in any; other files in their own
EXPORTED_KINDS = {  # suffix -> (what the file is, with its article; the runtime that runs it)
    ".onnx": ("an ONNX", "ONNX Runtime"),
    ".xml": ("an OpenVINO IR", "OpenVINO"),
    ".tflite": ("a LiteRT", "LiteRT"),
    ".param": ("an NCNN", "ncnn"),
}


class DepthModel(Protocol):
    """What inference code (`litedepth.inference.predict`, `litedepth.evaluation.loop.evaluate`, the CLI)
    may rely on in a model from `load`: a `DepthNet` or an `litedepth.runtimes.onnx.OnnxDepthModel`.

    Nothing else is shared: ``parameters()`` and ``state_dict()`` are torch's, and an ONNX model
    does not fake them (`litedepth.deploy.flops` counts its parameters and GFLOPs from its graph).
    """

    arch: str  # architecture name (a key of `litedepth.ARCHITECTURES`, or "custom")
    input_size: tuple[int, int]  # (H, W) the network was built or exported for
    mean: tuple[float, ...]  # per-channel RGB normalisation of the input (0-1 pixels)
    std: tuple[float, ...]
    metadata: dict[str, Any]  # provenance: "source", "format", "training"

    @property
    def device(self) -> torch.device:
        """Where the model runs (an ONNX model: CPU)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, H, W)`` float -> ``(B, 1, H, W)`` depth in metres."""

    def eval(self) -> DepthModel:
        """Inference mode; returns the model."""


class UntrainedWeightsWarning(UserWarning):
    """`load` was given an architecture name: the network has fresh weights and its depth is meaningless."""


# --- the authors' released networks ---------------------------------------------------------


class Hu2021Network(NamedTuple):
    arch: str  # the architecture of `litedepth.ARCHITECTURES` the file loads into, strictly
    trained_on: str  # the paper's setting (X: NYU-v2 labeled; U: ScanNet unlabeled; U': ScanNet labeled)


HU2021_PREFIX = "hu2021:"
HU2021_URL = "https://drive.google.com/file/d/1yr5S5FIheL1mUfBzVJ8KqcIq9JP-jd4z/view"  # the authors' README
HU2021: dict[str, Hu2021Network] = {  # name -> network; the archive holds NAME.pt (teachers: DataParallel keys)
    "N_t_X": Hu2021Network("hu2021-teacher", "X"),
    "N_t_X_U_label": Hu2021Network("hu2021-teacher", "X + U'"),
    "N_s_X_no_KD": Hu2021Network("hu2021-student", "X, no distillation"),
    "N_s_X_U_label_no_KD": Hu2021Network("hu2021-student", "X + U', no distillation"),
    "N_s_X": Hu2021Network("hu2021-student", "KD on X"),
    "N_s_U_unlabel": Hu2021Network("hu2021-student", "KD on U only"),
    "N_s_X_U_unlabel": Hu2021Network("hu2021-student", "KD on X + U (the paper's main result)"),
    "N_s_X_U_label": Hu2021Network("hu2021-student", "KD on X + U'"),
}


def cache_dir() -> Path:
    """litedepth's cache folder: ``$LITEDEPTH_CACHE``, else the platform's user cache folder + ``litedepth``.

    Linux and other Unixes: ``$XDG_CACHE_HOME/litedepth`` (an absolute ``XDG_CACHE_HOME`` only, as the
    XDG specification says), else ``~/.cache/litedepth``; macOS: ``~/Library/Caches/litedepth``;
    Windows: ``%LOCALAPPDATA%\\litedepth\\Cache``. Nothing is created here.
    """
    own = os.environ.get("LITEDEPTH_CACHE")
    if own:
        return Path(own).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "litedepth" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "litedepth"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "litedepth"


def hu2021_folder() -> Path:
    """Where the authors' networks are kept: ``<cache_dir()>/hu2021``."""
    return cache_dir() / "hu2021"


def hu2021_url() -> str:
    """The authors' archive: ``$LITEDEPTH_HU2021_URL`` when set (a mirror, a ``file://`` copy), else `HU2021_URL`."""
    return os.environ.get("LITEDEPTH_HU2021_URL") or HU2021_URL


def hu2021_name(spec: str) -> str:
    """``hu2021:NAME`` (or ``NAME``) -> ``NAME`` of `HU2021`; anything else is one line listing the names."""
    name = spec[len(HU2021_PREFIX) :] if spec.startswith(HU2021_PREFIX) else spec
    if name in HU2021:
        return name
    close = difflib.get_close_matches(name, HU2021, n=1, cutoff=0.6)
    hint = f" (did you mean {HU2021_PREFIX}{close[0]}?)" if close else ""
    what = f"no network named {name!r}" if name else "give a network's name"
    raise LitedepthError(f"{HU2021_PREFIX}{name}: {what}{hint}; the authors released: {', '.join(HU2021)}")


def hu2021_networks() -> list[dict[str, Any]]:
    """The eight networks as rows: ``name``, ``arch``, ``trained_on``, ``file`` and whether it is ``cached``."""
    folder = hu2021_folder()
    rows = []
    for name, network in HU2021.items():
        path = folder / f"{name}.pt"
        rows.append({"name": name, **network._asdict(), "file": str(path), "cached": path.is_file()})
    return rows


def hu2021_file(spec: str) -> Path:
    """The cached ``.pt`` file of ``hu2021:NAME`` (or ``NAME``), downloading the authors' archive first when absent."""
    name = hu2021_name(spec)
    path = hu2021_folder() / f"{name}.pt"
    if path.is_file():
        with contextlib.suppress(OSError):  # what a killed download left, even when nothing is downloaded now
            clean_stale_downloads(path.parent)
    else:
        fetch_hu2021(name)
    return path


def fetch_hu2021(name: str) -> list[str]:
    """Download the authors' archive and cache every network it holds; return the names cached.

    The archive goes to a temporary folder inside the cache folder; every ``NAME.pt`` in it (in
    whatever folder) is loaded strictly with its architecture, and only when all load are they
    moved into the cache. Any failure is one `LitedepthError` line and leaves nothing behind: not
    the temporary folder, nor the cache folders this call made. What a killed download left is
    removed first (`clean_stale_downloads`).
    """
    folder, url = hu2021_folder(), hu2021_url()
    label = f"{HU2021_PREFIX}{name}"
    made = _missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_downloads(folder)
        work = Path(tempfile.mkdtemp(prefix=_download_prefix(), dir=folder))
    except OSError as exc:
        _remove_empty(made)
        raise LitedepthError(
            f"{label}: cannot write the cache folder {folder} ({exc.strerror or exc}); set LITEDEPTH_CACHE"
        ) from None
    try:
        if sys.stderr.isatty():
            logger.info("%s: downloading the authors' networks from %s into %s", label, url, folder)
        archive = _download(url, work / "archive", label)
        found = _unpack(archive, work / "networks", label, url)
        for member, path in found.items():
            _verify(path, member, label, url)
        for member, path in found.items():
            target = folder / f"{member}.pt"
            if not target.is_file():
                os.replace(path, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _remove_empty(made)
        raise
    shutil.rmtree(work, ignore_errors=True)
    if name not in found:
        held = ", ".join(f"{n}.pt" for n in found) or "none of the authors' files"
        _remove_empty(made)
        raise LitedepthError(
            f"{label}: the download from {url} holds no {name}.pt (it holds {held}); put the file in {folder} by hand"
        )
    return list(found)


# --- leftovers of killed downloads ------------------------------------------------------------

DOWNLOAD_PREFIX = ".download-"
STALE_AFTER_S = 24 * 3600  # no download takes a day: past it a leftover is stale whatever its name says


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64] or "host"


def _download_prefix() -> str:
    """``.download-HOST-PID-``: a download's temporary folder says which process on which machine owns it."""
    return f"{DOWNLOAD_PREFIX}{_host()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there: fall back on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def is_stale_download(path: Path, now: float | None = None) -> bool:
    """Whether the temporary folder ``path`` (``.download-HOST-PID-XXXX``) is what a killed download left.

    The rule: its owning process (the PID in its name, on this machine) is no longer running, or it
    is older than `STALE_AFTER_S` (one day: a PID reused by another process, a download of another
    machine sharing the cache, a folder named without its owner).
    """
    match = re.fullmatch(rf"{re.escape(DOWNLOAD_PREFIX)}([\w.]+)-(\d+)-\w+", path.name)
    if match and match[1] == _host() and not _pid_alive(int(match[2])):
        return True
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age > STALE_AFTER_S


def clean_stale_downloads(folder: Path) -> list[Path]:
    """Remove the leftovers of killed downloads (`is_stale_download`) from ``folder``; return them."""
    stale = [p for p in folder.glob(f"{DOWNLOAD_PREFIX}*") if p.is_dir() and is_stale_download(p)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        logger.debug("removed %s, left by a download that did not finish", path)
    return stale


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first: the folders a call will make."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; one that holds something (another process's file) stays
        try:
            folder.rmdir()
        except OSError:
            return


# --- one download -----------------------------------------------------------------------------


def _by_hand(label: str) -> str:
    """The way round a failed download: where the authors' file can be given by hand."""
    if label.startswith(FASTDEPTH_PREFIX):  # its published .tflite: from a copy, still checked by its sha256
        return "download its .tflite yourself and set LITEDEPTH_FASTDEPTH_URL=file:///PATH/fast_depth_224.tflite"
    name = label[len(HU2021_PREFIX) :]
    return f"download {name}.pt yourself and give its path (--model PATH/{name}.pt) or put it in {hu2021_folder()}"


def _failed(label: str, url: str, why: str) -> LitedepthError:
    return LitedepthError(f"{label}: the download from {url} failed ({why}); {_by_hand(label)}")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: its cause and context, a ``reason`` (urllib, urllib3), its exception arguments (requests)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
    return seen


def network_reason(exc: BaseException, host: str) -> str:
    """Why a download failed, in a few words: ``could not connect to HOST: connection refused``, ``timed out``, ...

    Looks through what ``exc`` wraps (urllib's ``URLError``, requests' and urllib3's chains) for the
    system's error, so that no library's long text (cut inside a parenthesis) reaches the user.
    """
    chain = _causes(exc)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return f"could not connect to {host}: name resolution failed; offline?"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"could not connect to {host}: connection refused"
    if any(isinstance(e, TimeoutError) for e in chain) or names & {"ConnectTimeoutError", "ReadTimeoutError"}:
        return f"no answer from {host}: timed out"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return f"could not connect to {host}: TLS/SSL error"
    if any(isinstance(e, (ConnectionError, http.client.HTTPException)) for e in chain):
        return f"the connection to {host} broke off"
    system = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if system is not None:
        return f"could not connect to {host}: {system.strerror[:1].lower()}{system.strerror[1:]}"
    return reason_of(exc, 100)


def _download(url: str, target: Path, label: str) -> Path:
    """``url`` -> ``target``: Google Drive through gdown, anything else (http, https, file) through urllib."""
    host = urllib.parse.urlparse(url).hostname or ""
    if host in ("drive.google.com", "docs.google.com"):
        return _download_drive(url, target, label)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            written = _copy(response, out, total)
        if total is not None and written < total:  # urllib reads a connection closed early as the end
            raise _failed(label, url, f"the connection to {host} broke off after {written:,} of {total:,} bytes")
    except urllib.error.HTTPError as exc:
        raise _failed(label, url, f"HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # no network, refused, timed out, a bad URL
        if is_disk_full(exc):
            raise LitedepthError(
                f"{label}: cannot write the download into {hu2021_folder()}: no space left on device; {_by_hand(label)}"
            ) from None
        if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, str):  # e.g. unknown url type
            raise _failed(label, url, exc.reason) from None
        raise _failed(label, url, network_reason(exc, host or url)) from None
    return target


def _download_drive(url: str, target: Path, label: str) -> Path:
    match = re.search(r"/file/d/([-\w]+)|[?&]id=([-\w]+)", url)
    if match is None:
        raise LitedepthError(f"{label}: {url} names no Google Drive file (expected .../file/d/ID/...)")
    try:
        import gdown
    except ImportError:
        raise LitedepthError(
            f"{label}: not in {hu2021_folder()}; downloading it from Google Drive needs gdown: "
            f"pip install 'litedepth[hub]' (or put the authors' {label[len(HU2021_PREFIX) :]}.pt there by hand)"
        ) from None
    try:
        result = gdown.download(id=match.group(1) or match.group(2), output=str(target), quiet=not sys.stderr.isatty())
    except Exception as exc:  # gdown's own errors (quota, permissions), requests' network errors
        if is_disk_full(exc):
            raise LitedepthError(
                f"{label}: cannot write the download into {hu2021_folder()}: no space left on device; {_by_hand(label)}"
            ) from None
        raise _failed(label, url, network_reason(exc, "drive.google.com")) from None
    if result is None or not target.is_file():  # older gdown versions return None instead of raising
        raise _failed(label, url, "Google Drive gave no file")
    return target


def _copy(source: IO[bytes], out: IO[bytes], total: int | None) -> int:
    """Copy ``source`` to ``out`` with a progress bar on a terminal; the number of bytes copied."""
    from tqdm import tqdm

    written = 0
    with tqdm(total=total, unit="B", unit_scale=True, desc="hu2021", disable=not sys.stderr.isatty()) as bar:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))
            written += len(chunk)
    return written


def _members(archive: Path, label: str, url: str) -> Iterator[tuple[str, IO[bytes]]]:
    """``(path inside, open file)`` for every file of a zip archive."""
    if not zipfile.is_zipfile(archive):
        raise LitedepthError(f"{label}: the download from {url} is not a zip archive")
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                with zf.open(info) as f:
                    yield info.filename, f


def _unpack(archive: Path, folder: Path, label: str, url: str) -> dict[str, Path]:
    """Name -> extracted file for every ``NAME.pt`` of `HU2021` in ``archive`` (macOS ``._`` copies skipped)."""
    folder.mkdir()
    found: dict[str, Path] = {}
    try:
        for inside, f in _members(archive, label, url):
            path = PurePosixPath(inside.replace("\\", "/"))
            name = path.stem
            if path.suffix != ".pt" or name not in HU2021 or name in found or "__MACOSX" in path.parts:
                continue
            found[name] = folder / f"{name}.pt"
            with open(found[name], "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise LitedepthError(
            f"{label}: the download from {url} is a damaged archive ({first_line(exc, 200)})"
        ) from None
    return found


def _verify(path: Path, name: str, label: str, url: str) -> None:
    """``path`` loads strictly as ``name``'s architecture, or one line naming the file in the archive."""
    arch = HU2021[name].arch
    try:
        load_network(path, arch=arch)
    except LitedepthError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise LitedepthError(
            f"{label}: {name}.pt in the download from {url} is not the authors' {arch}: {reason}"
        ) from None


def _load_hu2021(spec: str, arch: str | None) -> DepthNet:
    name = hu2021_name(spec)
    network = HU2021[name]
    if arch is not None and arch != network.arch:
        raise LitedepthError(f"{HU2021_PREFIX}{name}: a {network.arch}, not {arch!r}")
    path = hu2021_file(name)
    try:
        model = load_network(path, arch=network.arch)
    except LitedepthError as exc:
        raise LitedepthError(f"{exc} (a damaged cache file: delete it to download it again)") from None
    model.metadata = {
        "source": f"{HU2021_PREFIX}{name}",
        "format": "authors-pt",
        "file": str(path),
        "training": {"origin": "Hu et al. 2021 released checkpoint", "trained_on": network.trained_on},
    }
    return model


# --- FastDepth's published weights --------------------------------------------------------------


class FastDepthWeights(NamedTuple):
    url: str  # a pinned public file: FastDepth's int8 .tflite
    sha256: str  # of the bytes at ``url``: anything else is refused
    trained_on: str


FASTDEPTH_PREFIX = "fastdepth:"
FASTDEPTH: dict[str, FastDepthWeights] = {  # name -> weights of `litedepth.models.fastdepth` (Wofk et al. 2019, MIT)
    # the pruned network as converted by PINTO's model zoo (#146) and quantised by OpenMV (pull request #2876); a
    # second public source of the same network at 224, 256 and 320: STMicroelectronics' stm32ai-modelzoo,
    # https://github.com/STMicroelectronics/stm32ai-modelzoo/blob/7f3764d58ef8c7bca36116c4d6c12434d2682af7/depth_estimation/fastdepth/Public_pretrainedmodel_public_dataset/nyu_depthv2/fastdepth_224/fastdepth_224_int8.tflite
    "nyu": FastDepthWeights(
        "https://raw.githubusercontent.com/openmv/openmv/49a017eafd3aebda9b6b827bd2a367ded1592efc/lib/models/fast_depth_224.tflite",
        "e8957602750f16ac130210868f4403b38b4042f0d10c00b89ec03fc3dc840125",
        "NYU-Depth-v2",
    ),
}


def fastdepth_folder() -> Path:
    """Where FastDepth's converted weights are kept: ``<cache_dir()>/fastdepth``."""
    return cache_dir() / "fastdepth"


def fastdepth_name(spec: str) -> str:
    """``fastdepth:NAME`` (or ``NAME``) -> ``NAME`` of `FASTDEPTH`; anything else is one line listing the names."""
    name = spec[len(FASTDEPTH_PREFIX) :] if spec.startswith(FASTDEPTH_PREFIX) else spec
    if name in FASTDEPTH:
        return name
    what = f"no weights named {name!r}" if name else "give the weights' name"
    known = ", ".join(FASTDEPTH_PREFIX + n for n in FASTDEPTH)
    raise LitedepthError(f"{FASTDEPTH_PREFIX}{name}: {what}; FastDepth's published weights: {known}")


def fastdepth_file(spec: str) -> Path:
    """The cached ``.safetensors`` of ``fastdepth:NAME``, downloaded and converted first when absent.

    The download comes from ``$LITEDEPTH_FASTDEPTH_URL`` when set (a mirror, a ``file://`` copy),
    else `FASTDEPTH`'s pinned URL; either way its sha256 must be the pinned one.
    """
    name = fastdepth_name(spec)
    path = fastdepth_folder() / f"{name}.safetensors"
    if not path.is_file():
        fetch_fastdepth(name, os.environ.get("LITEDEPTH_FASTDEPTH_URL") or FASTDEPTH[name].url)
    return path


def fetch_fastdepth(name: str, url: str) -> Path:
    """Download FastDepth's ``.tflite`` from ``url``, check it, and cache it as our ``.safetensors``.

    The file goes to a temporary folder inside the cache folder; its sha256 must be the pinned one,
    and its int8 weights are dequantised into `litedepth.models.fastdepth` (reading the flatbuffer
    needs ``litedepth[litert]``); only then is the float network written, so that no later load
    parses the TFLite again. Any failure is one `LitedepthError` line and leaves nothing behind.
    """
    from .models.fastdepth import require_flatbuffer_utils, state_dict_from_tflite

    folder, weights, label = fastdepth_folder(), FASTDEPTH[name], f"{FASTDEPTH_PREFIX}{name}"
    require_flatbuffer_utils(label)
    made = _missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_downloads(folder)
        work = Path(tempfile.mkdtemp(prefix=_download_prefix(), dir=folder))
    except OSError as exc:
        _remove_empty(made)
        raise LitedepthError(
            f"{label}: cannot write the cache folder {folder} ({exc.strerror or exc}); set LITEDEPTH_CACHE"
        ) from None
    target = folder / f"{name}.safetensors"
    try:
        data = _download(url, work / "model.tflite", label).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != weights.sha256:
            raise LitedepthError(
                f"{label}: the download from {url} has sha256 {digest}, not the published file's {weights.sha256}"
            )
        model = create_model("fastdepth")
        load_state_strict(model, state_dict_from_tflite(data, f"{label} ({url})"), url, "fastdepth")
        origin = "FastDepth (Wofk et al. 2019), pruned: the published int8 weights dequantised"
        provenance = {"origin": origin, "trained_on": weights.trained_on, "url": url, "sha256": digest}
        save_model(model, target, training=provenance)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _remove_empty(made)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return target


def _load_fastdepth(spec: str, arch: str | None) -> DepthNet:
    name = fastdepth_name(spec)
    if arch is not None and arch != "fastdepth":
        raise LitedepthError(f"{FASTDEPTH_PREFIX}{name}: a fastdepth, not {arch!r}")
    path = fastdepth_file(name)
    try:
        model = load_network(path, arch="fastdepth")
    except LitedepthError as exc:
        raise LitedepthError(f"{exc} (a damaged cache file: delete it to download it again)") from None
    model.metadata = {**model.metadata, "source": f"{FASTDEPTH_PREFIX}{name}", "file": str(path)}
    return model


# --- any spec -> a model ----------------------------------------------------------------------


def check_device(device: str | torch.device, option: str = "--device") -> torch.device:
    """``torch.device(device)``, or a one-line `LitedepthError` for a bad name or a device this torch cannot use."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LitedepthError(f"{option} {device!r}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    backend = getattr(torch, dev.type, None)
    if callable(getattr(backend, "is_available", None)) and not backend.is_available():
        raise LitedepthError(
            f"{option} {device}: {dev.type} is not available to this torch ({torch.__version__}); use cpu"
        )
    if (
        dev.index is not None
        and callable(getattr(backend, "device_count", None))
        and dev.index >= backend.device_count()
    ):
        raise LitedepthError(
            f"{option} {device}: no such device; this machine has {backend.device_count()} {dev.type} device(s)"
        )
    return dev


def load(
    spec: str | os.PathLike,
    arch: str | None = None,
    device: str | torch.device | None = None,
    *,
    backend: str = "torch",
    threads: int | None = None,
) -> DepthModel:
    """Open a depth model in eval mode from any spec the CLI's ``--model`` takes.

    - our ``.safetensors`` (architecture and input size from its metadata) -> `DepthNet`;
    - an authors' ``.pt`` (``arch`` guessed from its keys when left out) -> `DepthNet`;
    - ``hu2021:NAME``, one of the authors' released networks (`HU2021`), from the cache or
      downloaded once -> `DepthNet`;
    - ``fastdepth:NAME``, FastDepth's published weights (`FASTDEPTH`): its int8 ``.tflite`` downloaded
      once, checked by its sha256 and cached as our ``.safetensors`` (`fetch_fastdepth`) -> `DepthNet`;
    - an exported ``.onnx`` file -> `litedepth.runtimes.onnx.OnnxDepthModel` (CPU only; ``backend="openvino"``:
      `litedepth.runtimes.openvino.OpenVinoDepthModel`);
    - an OpenVINO IR ``.xml`` -> `OpenVinoDepthModel`; a ``.tflite`` -> `litedepth.runtimes.litert.LiteRTDepthModel`;
      an NCNN model (its folder, or ``X.ncnn.param`` with ``X.ncnn.bin`` and ``X.ncnn.json``) ->
      `litedepth.runtimes.ncnn.NcnnDepthModel` (CPU only);
    - an architecture name of `litedepth.ARCHITECTURES` -> a fresh `DepthNet`, with an
      `UntrainedWeightsWarning` (random weights: the depth is meaningless).

    A file wins over an architecture name of the same spelling. ``arch``, if given, must agree
    with what the spec holds. ``device`` moves a network there; default CPU. ``backend="onnxruntime"``
    runs a network by ONNX Runtime (exported in memory, checked against PyTorch); ``threads``
    sets ONNX Runtime's intra-op threads. Anything else is a one-line `LitedepthError`.

    >>> model = load("hu2021:N_s_X_U_unlabel")
    >>> model = load("student.safetensors", backend="onnxruntime", threads=2)
    """
    if backend not in BACKENDS:
        raise LitedepthError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend != "torch" and device is not None and torch.device(device).type != "cpu":
        raise LitedepthError(f"{spec}: the {backend} backend runs on CPU only, not {device}")
    model = _open(spec, arch, device, threads, backend)
    if backend == "torch" or not isinstance(model, torch.nn.Module):
        return model
    if backend == "openvino":
        from .runtimes.openvino import from_network as openvino_network

        return openvino_network(model, threads=threads, name=os.fspath(spec))
    from .runtimes.onnx import from_network

    return from_network(model, threads=threads, name=os.fspath(spec))


def _open(
    spec: str | os.PathLike, arch: str | None, device: str | torch.device | None, threads: int | None, backend: str
):
    """`load` before the backend: the spec resolved into a network on ``device`` or an exported model."""
    if not isinstance(spec, (str, os.PathLike)):
        raise LitedepthError(
            f"load: expected a model file or an architecture name, got a {type(spec).__name__} "
            "(a network object needs no loading)"
        )
    if isinstance(spec, str) and spec.startswith(HU2021_PREFIX):
        return _load_hu2021(spec, arch).to(_torch_device(device)).eval()
    if isinstance(spec, str) and spec.startswith(FASTDEPTH_PREFIX):
        return _load_fastdepth(spec, arch).to(_torch_device(device)).eval()
    path = Path(spec)
    if _exported_kind(path) is not None:
        return _load_exported(path, arch, device, threads, backend)
    if path.is_file():
        return load_network(path, arch).to(_torch_device(device)).eval()
    name = os.fspath(spec)
    if isinstance(spec, str) and name in ARCHITECTURES:
        return _fresh(name, arch).to(_torch_device(device)).eval()
    raise _not_found(spec, path)


def _exported_kind(path: Path) -> str | None:
    """The suffix of `EXPORTED_KINDS` an existing exported model answers to (an NCNN folder: ``.param``), else None."""
    from .runtimes.ncnn import is_ncnn

    if path.is_dir():
        if path.suffix.lower() == ".mlpackage":
            return ".mlpackage"
        return ".param" if is_ncnn(path) else None
    if not path.is_file():
        return None
    if is_ncnn(path):
        return ".param"
    suffix = path.suffix.lower()
    return suffix if suffix in EXPORTED_KINDS else None


def _torch_device(device: str | torch.device | None) -> torch.device:
    return check_device(device, "device") if device is not None else torch.device("cpu")


def _fresh(name: str, arch: str | None) -> DepthNet:
    if arch is not None and arch != name:
        raise LitedepthError(f"{name}: an architecture name, but arch={arch!r} names another")
    warnings.warn(
        f"{name}: an architecture name, not a file; using fresh (untrained) weights, so the depth is meaningless",
        UntrainedWeightsWarning,
        stacklevel=4,
    )
    model = create_model(name)
    model.metadata = {"source": name, "format": "untrained", "training": {}}
    return model


def _not_found(spec: str | os.PathLike, path: Path) -> LitedepthError:
    """The one line for a spec that is neither a file nor a name."""
    name = os.fspath(spec)
    if path.exists():
        return LitedepthError(
            f"{path}: a folder, not a model file (.safetensors, .pt, .onnx, .xml, .tflite, or an NCNN export folder)"
        )
    if path.suffix.lower() in MODEL_SUFFIXES or not isinstance(spec, str) or os.sep in name or "/" in name:
        kind = EXPORTED_KINDS.get(path.suffix.lower(), ("a checkpoint",))[0].split(" ", 1)[1]
        return LitedepthError(f"{path}: no such {kind} file")
    close = difflib.get_close_matches(name, ARCHITECTURES, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return LitedepthError(
        f"{name}: neither a model file nor an architecture name{hint}; architectures: {', '.join(ARCHITECTURES)}"
        f"; the authors' networks: {HU2021_PREFIX}NAME; FastDepth's: {', '.join(FASTDEPTH_PREFIX + n for n in FASTDEPTH)}"
    )


def _load_exported(path: Path, arch: str | None, device, threads: int | None, backend: str):
    """An exported file -> the runtime's model (CPU only); ``backend`` picks OpenVINO or ONNX Runtime for ``.onnx``."""
    kind = _exported_kind(path)
    if kind == ".mlpackage":
        raise LitedepthError(f"{path}: a Core ML package; Core ML runs on Apple platforms only, not here")
    what, runtime = EXPORTED_KINDS[kind]
    if device is not None and torch.device(device).type != "cpu":
        raise LitedepthError(f"{path}: {what} model runs on CPU only ({runtime}), not {device}")
    allowed = (
        ("torch", "onnxruntime", "openvino")
        if kind == ".onnx"
        else ("torch", "openvino")
        if kind == ".xml"
        else ("torch",)
    )
    if backend not in allowed:
        raise LitedepthError(f"{path}: {what} model runs in {runtime}, not with backend {backend!r}")
    if kind == ".xml" or (kind == ".onnx" and backend == "openvino"):
        from .runtimes.openvino import OpenVinoDepthModel as Model
    elif kind == ".onnx":
        from .runtimes.onnx import OnnxDepthModel as Model
    elif kind == ".tflite":
        from .runtimes.litert import LiteRTDepthModel as Model
    else:
        from .runtimes.ncnn import NcnnDepthModel as Model
    model = Model(path, threads=threads)
    if arch is not None and model.arch != arch:
        raise LitedepthError(f"{path}: holds architecture {model.arch!r}, not {arch!r}")
    return model


def _load_onnx(path: Path, arch: str | None, device: str | torch.device | None, threads: int | None):
    """An exported ``.onnx`` file -> `OnnxDepthModel` (ONNX Runtime, CPU provider)."""
    return _load_exported(path, arch, device, threads, "onnxruntime")


def open_model(
    spec: str | os.PathLike | None,
    arch: str | None = None,
    *,
    backend: str = "torch",
    device: str = "cpu",
    threads: int | None = None,
    quiet: bool = False,
) -> DepthModel:
    """The model a command runs: `load` of ``--model`` (``--arch`` alone: that architecture).

    The fresh-weights warning of an architecture name becomes one ``warning:`` line on stderr,
    and an ``.onnx`` file asked to run by torch gets a ``note:`` line (ONNX Runtime runs it);
    ``quiet`` shows neither (a timing needs no trained weights).
    """
    check_device(device)
    if spec is None and arch is None:
        raise LitedepthError(
            "no model: give --model (a .safetensors, .pt or .onnx file, hu2021:NAME, or an architecture name)"
        )
    spec, arch = (spec, arch) if spec is not None else (arch, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UntrainedWeightsWarning)
        model = load(spec, arch=arch, device=device, backend=backend, threads=threads)
    for w in caught:
        if not issubclass(w.category, UntrainedWeightsWarning):  # not ours: shown as Python would have shown it
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        elif not quiet:
            logger.warning("warning: %s", w.message)
    if backend == "torch" and not isinstance(model, torch.nn.Module) and not quiet:
        what, runtime = EXPORTED_KINDS.get(_exported_kind(Path(spec)), ("an exported", "its runtime"))
        logger.warning("note: %s is %s file; running it with %s", spec, what, runtime)
    return model
