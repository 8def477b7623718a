"""Counting a model's parameters and compute.

Torch networks are counted from their modules; ONNX models (`litedepth.runtimes.onnx.OnnxDepthModel`)
from their graph: parameters are the element count of the initializers (after BatchNorm folding and
the exporter's merging of identical tensors, so a little below the torch count), and GFLOPs come from
the Conv, ConvTranspose, Gemm and MatMul nodes at shapes from ``onnx.shape_inference`` (None when
a shape stays unknown or the graph holds compute it cannot count, such as quantised convolutions).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import LitedepthError

# compute ops that `onnx_gflops` cannot count: a graph holding one has no GFLOPs figure
UNCOUNTED_ONNX_OPS = {
    "QLinearConv",
    "ConvInteger",
    "MatMulInteger",
    "QLinearMatMul",
    "Einsum",
    "Attention",
    "If",
    "Loop",
    "Scan",
    "RNN",
    "LSTM",
    "GRU",
}


def count_parameters(model: Any) -> int | None:
    """Parameters of a torch network; of an ONNX model, the element count of its graph's initializers; of
    another exported model, what its runtime reads from the file (`parameter_count`; None: unknown)."""
    if hasattr(model, "proto"):  # an OnnxDepthModel
        from ..runtimes.onnx import onnx_parameter_count

        return onnx_parameter_count(model.proto())
    if hasattr(model, "parameter_count"):  # OpenVINO, LiteRT, NCNN models
        return model.parameter_count()
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: Any, size: tuple[int, int], batch: int = 1) -> float | None:
    """GFLOPs of one forward pass on a ``(batch, 3, H, W)`` input, 2 FLOPs per multiply-add.

    Torch networks: counted by ``torch.utils.flop_counter`` (the paper's 8.04 GFLOPs = 4.02 GMACs).
    ONNX models: `onnx_gflops` on the graph (None when it cannot be known); a static export is
    counted at its own size only.
    """
    if not hasattr(model, "proto") and hasattr(model, "parameter_count"):
        return None  # OpenVINO, LiteRT, NCNN graphs are not counted
    if hasattr(model, "proto"):  # an OnnxDepthModel
        static = getattr(model, "static_size", None)
        if static is not None and tuple(size) != tuple(static):
            raise LitedepthError(
                f"{model.name}: exported for {static[0]}x{static[1]} inputs only, not {size[0]}x{size[1]} "
                "(re-export with --size or --dynamic)"
            )
        return onnx_gflops(model.proto(), size, batch)
    import torch  # imported here, so that parsing sizes stays light
    from torch.utils.flop_counter import FlopCounterMode

    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    x = torch.zeros(batch, 3, *size, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 1e9


def onnx_gflops(proto: Any, size: tuple[int, int], batch: int = 1) -> float | None:
    """GFLOPs (2 per multiply-add) of Conv, ConvTranspose, Gemm and MatMul nodes for a ``(batch, 3, H, W)`` input.

    The graph's first non-initializer input is fixed to that shape and every shape inferred
    (``onnx.shape_inference.infer_shapes`` with data propagation, so that the resizes of a dynamic
    export get sizes). Counts as ``torch.utils.flop_counter`` does: a convolution is
    ``2 * N * prod(weight shape) * prod(output spatial)`` (input spatial for a transposed one).
    None when a needed shape stays unknown or the graph holds an op of `UNCOUNTED_ONNX_OPS`.
    """
    import onnx
    from onnx import shape_inference

    graph = proto.graph
    if any(node.op_type in UNCOUNTED_ONNX_OPS for node in graph.node):
        return None
    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    initializers = {init.name for init in fixed.graph.initializer}
    image = next((i for i in fixed.graph.input if i.name not in initializers), None)
    dims = image.type.tensor_type.shape.dim if image is not None else []
    if len(dims) != 4:
        return None
    for dim, value in zip(dims, (batch, 3, *size)):
        dim.Clear()
        dim.dim_value = int(value)
    del fixed.graph.value_info[:]  # the exporter's symbolic shapes would survive inference
    try:
        inferred = shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception:  # an op or opset shape inference does not know
        return None
    shapes: dict[str, list[int]] = {init.name: list(init.dims) for init in inferred.graph.initializer}
    for info in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        tensor = info.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes.setdefault(info.name, [d.dim_value for d in tensor.shape.dim])
    flops = 0
    for node in inferred.graph.node:
        op = node.op_type
        if op not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
        out = shapes.get(node.output[0])
        if a is None or b is None or out is None:
            return None
        if op == "Conv":
            flops += 2 * out[0] * math.prod(b) * math.prod(out[2:])
        elif op == "ConvTranspose":
            flops += 2 * a[0] * math.prod(b) * math.prod(a[2:])
        else:  # Gemm, MatMul: every output element is a dot product over the shared dimension
            attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
            inner = a[0] if op == "Gemm" and attrs.get("transA", 0) else a[-1]
            flops += 2 * math.prod(out) * inner
    return flops / 1e9
