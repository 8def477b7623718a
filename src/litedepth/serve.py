"""``litedepth serve``: a web demo (Gradio) that shows a photo's depth, its point cloud and the latency.

>>> demo = build_demo({"student": litedepth.load("student.safetensors")})
>>> demo.launch(server_name="127.0.0.1")

Needs ``pip install 'litedepth[demo]'``. Upload, drop or paste a photo (or take one with the
webcam), pick a model, and see the photo beside its colourised depth with a colour bar in
metres, a 3-D view of the point cloud, the latency, and downloads of the depth (16-bit PNG in
millimetres, float32 NPY in metres) and the point cloud (PLY). Photos larger than ``max_side``
pixels on their longer side are scaled down first; bad files get a message, not a crash.
"""

from __future__ import annotations

import json
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import LitedepthError

MAX_SIDE = 2048  # longer side (px) a photo is scaled down to before prediction
MAX_FILE_SIZE = "20mb"  # Gradio's upload limit
CLOUD_POINTS = 40_000  # points in the 3-D view (the PLY download keeps every pixel)


def require_gradio():
    try:
        import gradio
    except ImportError:
        raise LitedepthError("the web demo needs Gradio: pip install 'litedepth[demo]'") from None
    return gradio


def write_glb_points(path: str | Path, points: np.ndarray, colors: np.ndarray) -> Path:
    """Coloured points as a binary glTF 2.0 file (one POINTS primitive): what the 3-D view shows.

    glTF's frame is y up, z towards the viewer, so the camera frame's y and z are negated.
    """
    positions = (points * np.array([1, -1, -1], np.float32)).astype("<f4")
    rgba = np.concatenate([colors.astype(np.uint8), np.full((len(colors), 1), 255, np.uint8)], axis=1)
    blob = positions.tobytes() + rgba.tobytes()
    doc = {
        "asset": {"version": "2.0", "generator": "litedepth"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "mode": 0}]}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": positions.nbytes},
                        {"buffer": 0, "byteOffset": positions.nbytes, "byteLength": rgba.nbytes}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(points), "type": "VEC3",
             "min": positions.min(axis=0).tolist() if len(points) else [0, 0, 0],
             "max": positions.max(axis=0).tolist() if len(points) else [0, 0, 0]},
            {"bufferView": 1, "componentType": 5121, "normalized": True, "count": len(points), "type": "VEC4"},
        ],
    }
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    path = Path(path)
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON") + text
                     + struct.pack("<I4s", len(blob), b"BIN\0") + blob)
    return path


def estimate(model, photo, max_side: int = MAX_SIDE, focal: float | None = None, cmap: str = "magma_r") -> dict:
    """Everything the demo shows for one photo: ``{"view", "depth", "files", "cloud", "text"}``."""
    import torch
    from PIL import Image

    from .camera import back_project, for_photo, write_ply
    from .fileio import save_npy, to_rgb, write_png16_mm
    from .inference import predict
    from .visualize import side_by_side

    if photo is None:
        raise LitedepthError("no photo: upload, drop or paste one first")
    image = to_rgb(photo, "the uploaded photo")
    note = ""
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        original = image.size
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
        note = f" (scaled down from {original[0]}x{original[1]})"
    start = time.perf_counter()
    with torch.inference_mode():
        depth = predict(model, image)
    latency_ms = (time.perf_counter() - start) * 1000
    depth, camera = for_photo(depth, model.camera, float(focal) if focal else None)
    folder = Path(tempfile.mkdtemp(prefix="litedepth-serve-"))
    png, npy, ply = folder / "depth.png", folder / "depth.npy", folder / "points.ply"
    write_png16_mm(png, depth)
    save_npy(npy, depth)
    points, colors = back_project(depth, np.asarray(image), camera)
    write_ply(ply, points, colors)
    keep = np.linspace(0, len(points) - 1, min(len(points), CLOUD_POINTS)).astype(int) if len(points) else np.zeros(0, int)
    cloud = write_glb_points(folder / "points.glb", points[keep], colors[keep])
    valid = depth[np.isfinite(depth) & (depth > 0)]
    text = (f"{getattr(model, 'arch', 'model')}: {latency_ms:.0f} ms for a {image.width}x{image.height} photo{note}; "
            f"depth {valid.min():.2f}-{valid.max():.2f} m" if valid.size else "no valid depth")
    return {"view": side_by_side(image, depth, colorbar=True, cmap=cmap), "depth": depth, "files": [str(png), str(npy), str(ply)],
            "cloud": str(cloud), "text": text}


def build_demo(models: dict, max_side: int = MAX_SIDE):
    """A Gradio Blocks app over ``models`` (name -> model from `litedepth.load`)."""
    gr = require_gradio()
    names = list(models)

    def run(photo, name, focal):
        try:
            result = estimate(models[name], photo, max_side=max_side, focal=focal or None)
        except LitedepthError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # a photo PIL cannot handle, say: a message, not a crash
            raise gr.Error(f"could not estimate depth for this photo ({exc.__class__.__name__}: {exc})") from None
        return result["view"], result["cloud"], result["text"], result["files"]

    with gr.Blocks(title="litedepth") as demo:
        gr.Markdown("# litedepth\nMonocular depth in metres from one photo. Upload, drop or paste a photo, or use the webcam.")
        with gr.Row():
            with gr.Column():
                photo = gr.Image(type="pil", sources=["upload", "webcam", "clipboard"], label="photo", elem_id="photo")
                model = gr.Dropdown(names, value=names[0], label="model", elem_id="model")
                focal = gr.Number(value=0, label="your camera's focal length in pixels (0: the training camera's)", elem_id="focal")
                button = gr.Button("Estimate depth", variant="primary", elem_id="estimate")
            with gr.Column():
                view = gr.Image(label="photo | depth (colour bar in metres)", elem_id="depth", interactive=False)
                cloud = gr.Model3D(label="point cloud", display_mode="point_cloud", elem_id="cloud")
                text = gr.Textbox(label="latency", elem_id="latency", interactive=False)
                files = gr.File(label="downloads: depth PNG16 (mm), NPY (m), PLY point cloud", file_count="multiple", elem_id="files")
        button.click(run, inputs=[photo, model, focal], outputs=[view, cloud, text, files])
    return demo


def serve(specs: list[str], host: str = "127.0.0.1", port: int = 7860, max_side: int = MAX_SIDE,
          max_file_size: str = MAX_FILE_SIZE) -> None:
    """Load every spec with `litedepth.load` and serve the demo until interrupted."""
    from .checkpoint import load

    require_gradio()
    models = {}
    for spec in specs:
        model = load(spec)
        models[Path(spec).stem if Path(spec).is_file() else spec] = model
    demo = build_demo(models, max_side=max_side)
    print(f"litedepth serve: http://{host}:{port} ({', '.join(models)})", flush=True)
    demo.launch(server_name=host, server_port=port, max_file_size=max_file_size, show_error=True, quiet=True)
