"""Cameras: metric depth for the user's camera, and depth maps as coloured point clouds.

A network trained on NYU-v2 predicts metres for NYU's camera: an object that fills a given
share of the picture is as far away as it would be through NYU's lens. `predict` resizes every
photo so that its shorter side has the scale the network was trained at, so what matters is the
focal length relative to the shorter side. For a photo taken with focal length ``f`` pixels and
shorter side ``s`` pixels, the depth for that camera is::

    depth * (f / s) / (f_train / s_train)

which is exactly the focal-length ratio when both images have the same size.

>>> nyu = Intrinsics.nyu()                                   # fx 518.86 px at 640x480
>>> scale_to_camera(depth, focal_px=1000.0, trained=nyu)     # metres for a camera with f = 1000 px
>>> points, colors = back_project(depth, image, Intrinsics.centred(1000.0, 640, 480))
>>> write_ply("room.ply", points, colors)
>>> write_glb_points("room.glb", points, colors)                # what a glTF viewer (the web demo) shows
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LitedepthError

NYU_INTRINSICS = (518.86, 519.47, 325.58, 253.74)  # fx, fy, cx, cy (px) of NYU-v2's Kinect at NYU_SIZE
NYU_SIZE = (640, 480)  # (width, height) of NYU-v2's images


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: focal lengths and principal point in pixels of a ``width x height`` image."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def nyu(cls) -> Intrinsics:
        """NYU-v2's Kinect: every shipped network and preset is trained for this camera."""
        return cls(*NYU_INTRINSICS, *NYU_SIZE)

    @classmethod
    def centred(cls, focal_px: float, width: int, height: int) -> Intrinsics:
        """Square pixels, principal point at the image centre."""
        return cls(float(focal_px), float(focal_px), (width - 1) / 2, (height - 1) / 2, int(width), int(height))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intrinsics:
        """The camera of `to_dict`'s dict; one-line `LitedepthError` for a missing key or a value no camera has
        (focal lengths positive and finite, principal point finite, width and height positive whole numbers)."""
        from .metadata import camera_problem, show

        problem = camera_problem(data)
        if problem is not None:
            key, value, why = problem
            raise LitedepthError(f"{key} {show(value)}: {why}")  # e.g. "camera.fx -1: must be a positive ..."
        return cls(
            float(data["fx"]),
            float(data["fy"]),
            float(data["cx"]),
            float(data["cy"]),
            int(data["width"]),
            int(data["height"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def relative_focal(self) -> float:
        """The focal length in units of the image's shorter side (what fixes metric scale in `predict`)."""
        return math.sqrt(self.fx * self.fy) / min(self.width, self.height)

    def resized(self, width: int, height: int) -> Intrinsics:
        """The same camera for the image resized to ``width x height`` (pixel centres kept)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, int(width), int(height)
        )

    def matching(self, width: int, height: int) -> Intrinsics:
        """This camera's relative focal length on an image of another shape, principal point centred.

        For a photo of unknown camera, this is the camera for which the network's metres are right.
        """
        f = self.relative_focal * min(width, height)
        return Intrinsics.centred(f, width, height)


def focal_from_fov(fov_deg: float, width: int) -> float:
    """Focal length in pixels of a camera whose horizontal field of view is ``fov_deg`` on an image ``width`` wide."""
    if not 0 < fov_deg < 180:
        raise LitedepthError(f"--fov {fov_deg}: expected a horizontal field of view between 0 and 180 degrees")
    return (width / 2) / math.tan(math.radians(fov_deg) / 2)


def focal_from_exif(path: str | os.PathLike, width: int, height: int) -> float:
    """Focal length in pixels from a photo's EXIF ``FocalLengthIn35mmFilm`` (36 mm = the longer side), or one line why not."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            exif = img.getexif().get_ifd(0x8769)  # the Exif sub-IFD holds the lens tags
            f35 = exif.get(0xA405)
    except Exception:
        f35 = None
    if not f35:
        raise LitedepthError(f"{path}: no EXIF FocalLengthIn35mmFilm tag; give --focal PX or --fov DEG instead")
    return float(f35) / 36.0 * max(width, height)


def scale_to_camera(depth: np.ndarray, focal_px: float, trained: Intrinsics) -> np.ndarray:
    """Metres for a camera of focal length ``focal_px`` (pixels of ``depth``'s image) from a network trained on ``trained``."""
    if not focal_px > 0:
        raise LitedepthError(f"--focal {focal_px}: expected a positive focal length in pixels")
    height, width = depth.shape[-2:]
    ratio = (focal_px / min(width, height)) / trained.relative_focal
    return (depth * np.float32(ratio)).astype(np.float32)


def for_photo(depth: np.ndarray, trained: Intrinsics, focal_px: float | None = None) -> tuple[np.ndarray, Intrinsics]:
    """A photo's depth map and the camera it is in: rescaled to ``focal_px`` with centred intrinsics when
    that is given, else as predicted, in the training camera's view of the photo (`Intrinsics.matching`)."""
    height, width = depth.shape[-2:]
    if focal_px is None:
        return depth, trained.matching(width, height)
    return scale_to_camera(depth, focal_px, trained), Intrinsics.centred(focal_px, width, height)


def in_camera(depths, focal_px: float | None, trained: Intrinsics):
    """`scale_to_camera` for what `predict` returns (one map or a list); unchanged when ``focal_px`` is None."""
    if focal_px is None:
        return depths
    if isinstance(depths, list):
        return [scale_to_camera(d, focal_px, trained) for d in depths]
    return scale_to_camera(depths, focal_px, trained)


def back_project(
    depth: np.ndarray, image: np.ndarray | None, camera: Intrinsics, stride: int = 1, max_depth: float = 10.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """A z-depth map (``H x W`` metres) as 3-D points ``(N, 3)`` float32 in the camera's frame.

    x right, y down, z along the optical axis (OpenCV's convention); with ``image`` (``H x W x
    3`` uint8) also their colours ``(N, 3)`` uint8. Every ``stride``-th pixel in both directions;
    invalid (0, negative, non-finite) and farther than ``max_depth`` metres dropped.
    """
    height, width = depth.shape
    if (camera.width, camera.height) != (width, height):
        camera = camera.resized(width, height)
    v, u = np.mgrid[0:height:stride, 0:width:stride]
    z = depth[::stride, ::stride]
    keep = np.isfinite(z) & (z > 0) & (z <= max_depth)
    z, u, v = z[keep], u[keep], v[keep]
    points = np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], axis=1).astype(np.float32)
    colors = None if image is None else np.asarray(image)[::stride, ::stride][keep].astype(np.uint8)
    return points, colors


def write_ply(path: str | os.PathLike, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """A binary little-endian PLY of ``points`` (``(N, 3)`` metres) and optional ``colors`` (``(N, 3)`` uint8), atomically."""
    from .fileio import atomic_path

    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + (
        [("red", "u1"), ("green", "u1"), ("blue", "u1")] if colors is not None else []
    )
    rows = np.empty(len(points), dtype=fields)
    rows["x"], rows["y"], rows["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    names = {"<f4": "float", "u1": "uchar"}
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment litedepth: metres, camera frame (x right, y down, z forward)\n"
        f"element vertex {len(points)}\n" + "".join(f"property {names[t]} {n}\n" for n, t in fields) + "end_header\n"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header.encode("ascii"))
            f.write(rows.tobytes())
    return path


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Points and colours of a PLY written by `write_ply` (binary little-endian, float xyz, optional uchar rgb)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    n = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    props = [line.split()[1:] for line in header if line.startswith("property")]
    dtype = [(name, {"float": "<f4", "uchar": "u1"}[kind]) for kind, name in props]
    rows = np.frombuffer(data[end:], dtype=dtype, count=n)
    points = np.stack([rows["x"], rows["y"], rows["z"]], axis=1)
    colors = np.stack([rows["red"], rows["green"], rows["blue"]], axis=1) if "red" in rows.dtype.names else None
    return points, colors


def write_glb_points(path: str | Path, points: np.ndarray, colors: np.ndarray) -> Path:
    """Coloured points as a binary glTF 2.0 file (one POINTS primitive): what the web demo's 3-D view shows.

    glTF's frame is y up, z towards the viewer, so the camera frame's y and z are negated.
    Written atomically: the 3-D view never loads half a file.
    """
    from .fileio import atomic_path

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
