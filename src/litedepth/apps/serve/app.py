"""The demo's Gradio layout: a photo, a model and a focal length in; the view, the point cloud, the latency and the downloads out."""

from __future__ import annotations

from .extra import require_gradio
from .request import MAX_SIDE
from .session import Session

CACHE_SWEEP_S, CACHE_AGE_S = 300, 900  # Gradio's cache: every 5 min, remove what is older than 15 min


def photo_input(gr, **kwargs):
    """A `gr.Image` that hands the handler the uploaded file's path, undecoded.

    Why: `gr.Image` opens every upload with PIL before the handler runs, so a file that is no
    image fails inside Gradio with a message naming the server's temporary path, and a 16-bit
    depth map is silently squashed to 8-bit RGB. Here `read_upload` reads the file and answers
    either with one line. Pasted data URLs still go through Gradio (it writes them to a file).
    The component's own ``preprocess`` is wrapped rather than overridden in a subclass: Gradio
    writes a ``.pyi`` stub beside the source of every component class it sees defined.
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    decode = image.preprocess

    def preprocess(payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return decode(payload)

    image.preprocess = preprocess
    return image


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
