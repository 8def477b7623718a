"""Export to Core ML: an ``.mlpackage`` (ML program, float32), checked by its specification.

>>> report = export_coreml(model, "student.mlpackage")

The network (BN folded) goes through ``torch.export`` and ``coremltools.convert`` at one fixed
input size, batch 1; its input is renamed ``image`` and its output ``depth``, and the
``litedepth.*`` metadata is stored in the model's ``user_defined_metadata``. Core ML predicts
on macOS only, so the file is not run here: it is checked by reading the saved package back
(inputs, outputs and their shapes, the metadata), and the report says so.

`quantize_coreml` writes weight-only INT8 (coremltools' per-channel symmetric 8-bit weights;
activations stay float). Its effect on depth is measured in PyTorch on the calibration photos by
`weight_int8_change`, which rounds the same weights the same way, since the package cannot run here.
"""

from __future__ import annotations

import copy
import math
import os

import torch

from ..errors import LitedepthError, first_line, is_disk_full
from ..metadata import export_metadata, precision_entry
from ..outputs import write_marker
from ..runtimes.fold_batchnorm import fold_batchnorm
from ..runtimes.onnx_convert import INPUT_NAME, OUTPUT_NAME, converter_quiet
from .check import INT8_TOLERANCE, Int8Change, int8_change, refuse_int8
from .files import atomic_folder, c_writes
from .quantize import QuantizeReport, calibration_batches

WEIGHT_THRESHOLD = 2048  # coremltools' default: constants with fewer elements (biases, tiny layers) stay float

NOTE = "Core ML predicts on macOS only: checked by its specification (input, output, shapes, metadata), not run"


def require_coremltools():
    """Import ``coremltools`` (its notes on missing macOS-only parts dropped) or a one-line error naming the extra."""
    try:
        with converter_quiet("coremltools"):
            import coremltools
    except ImportError:
        raise LitedepthError(
            "Core ML export needs the 'coremltools' package: pip install 'litedepth[coreml]'"
        ) from None
    return coremltools


def convert_coreml(model, size: tuple[int, int]):
    """``model`` as a ``coremltools.models.MLModel`` (ML program, float32) with ``image``/``depth`` and metadata."""
    ct = require_coremltools()
    net = fold_batchnorm(copy.deepcopy(model).cpu().float().eval(), inplace=True)
    example = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    try:
        with converter_quiet("coremltools"):
            program = torch.export.export(net, (example,)).run_decompositions({})
            with c_writes("a temporary file"):  # the weights are written on converting
                ml = ct.convert(program, convert_to="mlprogram", compute_precision=ct.precision.FLOAT32)
    except Exception as exc:
        if is_disk_full(exc):  # its weights go to a temporary file: `export_written` names the output
            raise
        raise LitedepthError(
            f"coremltools cannot convert {getattr(model, 'arch', 'custom')} ({first_line(exc, 200)})"
        ) from None
    spec = ml.get_spec()
    ct.utils.rename_feature(spec, spec.description.input[0].name, INPUT_NAME)
    ct.utils.rename_feature(spec, spec.description.output[0].name, OUTPUT_NAME)
    ml = ct.models.MLModel(spec, weights_dir=ml.weights_dir, skip_model_load=True)
    ml.user_defined_metadata.update(export_metadata(model, size, False))
    ml.short_description = f"litedepth {getattr(model, 'arch', 'custom')}: normalised (1,3,H,W) RGB -> (1,1,H,W) metres"
    return ml


def check_spec(path, size: tuple[int, int], metadata: dict[str, str]) -> list[str]:
    """Problems of the saved package (empty when none): one input ``image`` (1,3,H,W), one output ``depth`` (1,1,H,W), metadata."""
    ct = require_coremltools()
    description = ct.models.MLModel(str(path), skip_model_load=True).get_spec().description
    problems = []
    ins = [(i.name, list(i.type.multiArrayType.shape)) for i in description.input]
    outs = [(o.name, list(o.type.multiArrayType.shape)) for o in description.output]
    if ins != [(INPUT_NAME, [1, 3, *size])]:
        problems.append(f"inputs {ins}, expected [({INPUT_NAME!r}, [1, 3, {size[0]}, {size[1]}])]")
    if len(outs) != 1 or outs[0][0] != OUTPUT_NAME or outs[0][1] not in ([], [1, 1, *size]):
        problems.append(f"outputs {outs}, expected [({OUTPUT_NAME!r}, [1, 1, {size[0]}, {size[1]}])]")
    stored = dict(description.metadata.userDefined)
    missing = [k for k, v in metadata.items() if stored.get(k) != v]
    if missing:
        problems.append(f"metadata {', '.join(missing)} not stored")
    return problems


def export_coreml(model, path: str | os.PathLike, size=None):
    """Convert ``model`` at ``size`` (default: its input size), save the package, check its specification, rename into place."""
    from .export import ExportReport

    size = tuple(size or model.input_size)
    ml = convert_coreml(model, size)
    with atomic_folder(path) as tmp:
        package = tmp / "model.mlpackage"
        ml.save(str(package))
        problems = check_spec(package, size, export_metadata(model, size, False))
        if problems:
            raise LitedepthError(f"{path}: the Core ML package has {'; '.join(problems)}; not written")
        _lift(package, tmp)
        write_marker(tmp, "coreml-model")  # lets --overwrite replace it; Core ML reads Manifest.json and Data/ only
    return ExportReport(
        str(path), size, False, None, math.nan, math.nan, [f"1x3x{size[0]}x{size[1]}"], "coremltools", "coreml", NOTE
    )


def quantize_coreml(
    float_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_dir: str | os.PathLike,
    max_images: int = 64,
    tolerance: float = INT8_TOLERANCE,
    model=None,
) -> QuantizeReport:
    """Weight-only INT8 of the package ``float_path`` (``model``: the network it came from), checked, then written.

    The depth change is measured on ``model`` (`weight_int8_change`): Core ML packages cannot run here.
    """
    from ..preprocess import stats_of

    if model is None:
        raise LitedepthError(f"{float_path}: Core ML INT8 needs the network it was exported from")
    batches = calibration_batches(calibration_dir, package_input_size(float_path), *stats_of(model), max_images)
    ct = require_coremltools()
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    change = weight_int8_change(model, batches[:8])
    refuse_int8(change, out_path, tolerance)
    config = OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD
    )
    try:
        with converter_quiet("coremltools"):
            float_ml = ct.models.MLModel(str(float_path), skip_model_load=True)
            quantised = linear_quantize_weights(float_ml, OptimizationConfig(global_config=config))
    except Exception as exc:
        if is_disk_full(exc):
            raise
        raise LitedepthError(
            f"{out_path}: coremltools could not quantise {float_path} ({first_line(exc, 200)})"
        ) from None
    quantised.user_defined_metadata.update(precision_entry("int8"))
    with atomic_folder(out_path) as tmp:
        package = tmp / "model.mlpackage"
        quantised.save(str(package))
        metadata = dict(float_ml.user_defined_metadata) | precision_entry("int8")
        problems = check_spec(package, package_input_size(package), metadata)
        if problems:
            raise LitedepthError(f"{out_path}: the INT8 Core ML package has {'; '.join(problems)}; not written")
        _lift(package, tmp)
        write_marker(tmp, "coreml-model")
    return QuantizeReport.of(out_path, len(batches), change)


def weight_int8_change(model, batches: list) -> Int8Change:
    """Depth change on ``batches`` when the BN-folded network's weights are rounded as `quantize_coreml` rounds them."""
    net = fold_batchnorm(copy.deepcopy(model).cpu().float().eval(), inplace=True)
    rounded = copy.deepcopy(net)
    with torch.no_grad():
        for module in rounded.modules():
            weight = getattr(module, "weight", None)
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and weight.numel() >= WEIGHT_THRESHOLD:
                scale = weight.abs().flatten(1).amax(1).clamp_min(1e-12) / 127  # per output channel, symmetric
                shape = (-1,) + (1,) * (weight.dim() - 1)
                weight.copy_((weight / scale.view(shape)).round().clamp(-127, 127) * scale.view(shape))

    def run(network):
        return lambda batch: network(torch.from_numpy(batch)).numpy()

    with torch.inference_mode():
        return int8_change(run(net), run(rounded), batches)


def package_input_size(package) -> tuple[int, int]:
    """(H, W) of the package's ``image`` input."""
    ct = require_coremltools()
    shape = (
        ct.models.MLModel(str(package), skip_model_load=True).get_spec().description.input[0].type.multiArrayType.shape
    )
    return int(shape[2]), int(shape[3])


def _lift(package, folder) -> None:
    """Move the package's contents up into ``folder`` (which becomes the ``.mlpackage``)."""
    import shutil

    for entry in list(package.iterdir()):
        shutil.move(str(entry), folder / entry.name)
    package.rmdir()
