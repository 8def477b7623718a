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

One module a job: `names` (the dropdown's names), `uploads` (reading a photo), `request` (one
photo's depth and downloads), `session` (one server's folder), `app` (the Gradio layout),
`server` (port, cache folder, signals, `serve`), `extra` (importing Gradio). Everything is
importable from here; the glTF writer is `litedepth.camera.write_glb_points`, beside the PLY one.
"""

from ...camera import write_glb_points
from .app import CACHE_AGE_S, CACHE_SWEEP_S, build_demo, photo_input
from .extra import NEEDS_GRADIO, gradio_installed, require_gradio
from .names import load_models, model_names, parse_model_spec, path_labels, refuse_repeated_files, refuse_repeated_names
from .request import CLOUD_POINTS, MAX_SIDE, estimate, write_downloads
from .server import MAX_FILE_SIZE, check_port, gradio_cache_in, parse_file_size, serve, sigterm_as_interrupt
from .session import KEEP_REQUESTS, Session
from .uploads import NO_PHOTO, NOT_AN_IMAGE, read_upload, without_path

__all__ = [
    "CACHE_AGE_S",
    "CACHE_SWEEP_S",
    "CLOUD_POINTS",
    "KEEP_REQUESTS",
    "MAX_FILE_SIZE",
    "MAX_SIDE",
    "NEEDS_GRADIO",
    "NOT_AN_IMAGE",
    "NO_PHOTO",
    "Session",
    "build_demo",
    "check_port",
    "estimate",
    "gradio_cache_in",
    "gradio_installed",
    "load_models",
    "model_names",
    "parse_file_size",
    "parse_model_spec",
    "path_labels",
    "photo_input",
    "read_upload",
    "refuse_repeated_files",
    "refuse_repeated_names",
    "require_gradio",
    "serve",
    "sigterm_as_interrupt",
    "without_path",
    "write_downloads",
    "write_glb_points",
]
