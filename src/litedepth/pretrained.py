"""Published networks by name: the authors' eight (``hu2021:NAME``) and FastDepth's (``fastdepth:NAME``).

Each is downloaded once into the cache folder (`litedepth.cache.cache_dir`) by
`litedepth.downloads`, checked (by its sha256 where known, and by loading it strictly with its
architecture), and only then moved into place: a failed download leaves nothing behind.
`litedepth.load` (`litedepth.hub`) opens them.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple

from .cache import cache_dir
from .checkpoint import load_network, load_state_strict, save_model
from .downloads import Source, check_sha256, clean_stale_downloads, discard, download, remove_empty, start, unpack
from .errors import LitedepthError
from .models import DepthNet, create_model

logger = logging.getLogger(__name__)

# --- the authors' released networks ---------------------------------------------------------


class Hu2021Network(NamedTuple):
    arch: str  # the architecture of `litedepth.ARCHITECTURES` the file loads into, strictly
    trained_on: str  # the paper's setting (X: NYU-v2 labeled; U: ScanNet unlabeled; U': ScanNet labeled)
    sha256: str | None = (
        None  # of NAME.pt in the archive, checked when known (not yet: Google Drive is unreachable here)
    )


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
        row = {"name": name, "arch": network.arch, "trained_on": network.trained_on}
        rows.append({**row, "file": str(path), "cached": path.is_file()})
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


def _hu2021_source(name: str) -> Source:
    folder = hu2021_folder()
    by_hand = f"download {name}.pt yourself and give its path (--model PATH/{name}.pt) or put it in {folder}"
    return Source(f"{HU2021_PREFIX}{name}", hu2021_url(), folder, by_hand, f"{name}.pt")


def fetch_hu2021(name: str) -> list[str]:
    """Download the authors' archive and cache every network it holds; return the names cached.

    The archive goes to a temporary folder inside the cache folder; every ``NAME.pt`` in it (in
    whatever folder) is checked (`_verify`), and only when all pass are they moved into the cache.
    Any failure is one `LitedepthError` line and leaves nothing behind: not the temporary folder,
    nor the cache folders this call made. What a killed download left is removed first
    (`litedepth.downloads.clean_stale_downloads`).
    """
    source = _hu2021_source(name)
    folder, url, label = source.folder, source.url, source.label
    work, made = start(source)
    try:
        if sys.stderr.isatty():
            logger.info("%s: downloading the authors' networks from %s into %s", label, url, folder)
        archive = download(source, work / "archive")
        found = unpack(archive, work / "networks", HU2021, ".pt", source)
        for member, path in found.items():
            _verify(path, member, source)
        for member, path in found.items():
            target = folder / f"{member}.pt"
            if not target.is_file():
                os.replace(path, target)
    except BaseException:
        discard(work, made)
        raise
    shutil.rmtree(work, ignore_errors=True)
    if name not in found:
        held = ", ".join(f"{n}.pt" for n in found) or "none of the authors' files"
        remove_empty(made)
        raise LitedepthError(
            f"{label}: the download from {url} holds no {name}.pt (it holds {held}); put the file in {folder} by hand"
        )
    return list(found)


def _verify(path: Path, name: str, source: Source) -> None:
    """``path`` has ``name``'s pinned sha256 (when known) and loads strictly as its architecture, or one line."""
    network = HU2021[name]
    where = f"{source.label}: {name}.pt in the download from {source.url}"
    if network.sha256 is not None:
        check_sha256(path, network.sha256, where)
    try:
        load_network(path, arch=network.arch)
    except LitedepthError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise LitedepthError(f"{where} is not the authors' {network.arch}: {reason}") from None


def load_hu2021(spec: str, arch: str | None) -> DepthNet:
    """``hu2021:NAME`` -> its `DepthNet` (CPU), downloaded first when not cached; ``arch`` must agree."""
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

    weights, label = FASTDEPTH[name], f"{FASTDEPTH_PREFIX}{name}"
    require_flatbuffer_utils(label)
    by_hand = "download its .tflite yourself and set LITEDEPTH_FASTDEPTH_URL=file:///PATH/fast_depth_224.tflite"
    source = Source(label, url, fastdepth_folder(), by_hand, "fast_depth_224.tflite")
    work, made = start(source)
    target = source.folder / f"{name}.safetensors"
    try:
        data = download(source, work / "model.tflite").read_bytes()
        digest = check_sha256(data, weights.sha256, f"{label}: the download from {url}")
        model = create_model("fastdepth")
        load_state_strict(model, state_dict_from_tflite(data, f"{label} ({url})"), url, "fastdepth")
        origin = "FastDepth (Wofk et al. 2019), pruned: the published int8 weights dequantised"
        provenance = {"origin": origin, "trained_on": weights.trained_on, "url": url, "sha256": digest}
        save_model(model, target, training=provenance)
    except BaseException:
        discard(work, made)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return target


def load_fastdepth(spec: str, arch: str | None) -> DepthNet:
    """``fastdepth:NAME`` -> its `DepthNet` (CPU), downloaded and converted first when not cached."""
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
