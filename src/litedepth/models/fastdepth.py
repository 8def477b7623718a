"""FastDepth (Wofk et al., ICRA 2019): MobileNet-NNConv5 with a depthwise decoder and additive skips.

The network of the published pruned weights (``mobilenet-nnconv5dw-skipadd-pruned``, MIT licence,
(c) 2019 Diana Wofk), at the channel widths NetAdapt left (`ENCODER_WIDTHS`, `DECODER_WIDTHS`):

* encoder ``E``: MobileNet-v1's 14 blocks (``conv0`` a 3x3 convolution, ``conv1`` .. ``conv13``
  depthwise 3x3 + pointwise 1x1, each convolution followed by BatchNorm and ReLU6), stride 32;
* decoder ``MFF``: five ``decode_convN`` (depthwise 5x5 + pointwise 1x1, BatchNorm and ReLU),
  each followed by a nearest-neighbour 2x upsampling; the outputs of ``conv5``, ``conv3`` and
  ``conv1`` are added after the second, third and fourth;
* ``R``: ``decode_conv6``, pointwise 1x1 to one channel + BatchNorm + ReLU: depth in metres.

Keys keep the authors' names under litedepth's ``E.`` / ``MFF.`` / ``R.`` prefixes
(``E.conv1.3.weight``, ``MFF.decode_conv1.0.0.weight``, ``R.decode_conv6.0.weight``).

Input: RGB / 255 (no mean/std), ``(B, 3, H, W)``; output ``(B, 1, H, W)``, metres. The network is
the published one when ``H`` and ``W`` are multiples of 32 (it was trained at 224x224); at other
sizes each upsampling goes to its skip's size and the output is resized to the input's.

`state_dict_from_tflite` reads the int8 weights of a FastDepth ``.tflite`` file (the OpenMV /
STM32 model-zoo conversion) into this network: every weight dequantised with its per-channel scale
and zero point, the folded biases into BatchNorm layers that pass them through.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LitedepthError, first_line
from .depthnet import DepthNet

ENCODER_WIDTHS = (16, 56, 88, 120, 144, 256, 408, 376, 272, 288, 296, 328, 480, 512)  # conv0 .. conv13
ENCODER_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
DECODER_WIDTHS = (200, 256, 120, 56, 16)  # decode_conv1 .. decode_conv5
SKIPS = {2: 5, 3: 3, 4: 1}  # decode_convN's upsampled output + the output of encoder block convM
INPUT_SIZE = (224, 224)  # (H, W) it was trained at


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int, act: type[nn.Module]) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout), act(inplace=True)]


class MobileNetEncoder(nn.Module):
    """MobileNet-v1 blocks ``conv0`` .. ``conv13`` at ``widths``: ``(B, 3, H, W)`` -> four feature maps.

    Returns the outputs of ``conv1``, ``conv3``, ``conv5`` and ``conv13``: ``(B, C_i, H/r_i, W/r_i)``
    with ``C_i`` = `channels` and ``r_i`` = `reductions` (2, 4, 8, 32).
    """

    taps = (1, 3, 5, 13)

    def __init__(self, widths=ENCODER_WIDTHS, strides=ENCODER_STRIDES) -> None:
        super().__init__()
        cin = 3
        for i, (cout, stride) in enumerate(zip(widths, strides)):
            if i == 0:
                layers = _conv_bn(3, cout, 3, stride, 1, nn.ReLU6)
            else:
                layers = _conv_bn(cin, cin, 3, stride, cin, nn.ReLU6) + _conv_bn(cin, cout, 1, 1, 1, nn.ReLU6)
            setattr(self, f"conv{i}", nn.Sequential(*layers))
            cin = cout
        self.depth = len(widths)
        self.channels = tuple(widths[i] for i in self.taps)
        self.reductions = tuple(int(np.prod(strides[: i + 1])) for i in self.taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(self.depth):
            x = getattr(self, f"conv{i}")(x)
            if i in self.taps:
                feats.append(x)
        return feats


class NNConv5Decoder(nn.Module):
    """``decode_conv1`` .. ``decode_conv5`` with nearest upsampling and additive skips.

    ``[(B, C_i, H/r_i, W/r_i)]`` from `MobileNetEncoder` -> ``(B, widths[-1], H, W)`` for sides
    that are multiples of 32 (else twice the first tap's size).
    """

    def __init__(self, in_channels: int = ENCODER_WIDTHS[-1], widths=DECODER_WIDTHS, kernel_size: int = 5) -> None:
        super().__init__()
        cin = in_channels
        for i, cout in enumerate(widths, start=1):
            depthwise = nn.Sequential(*_conv_bn(cin, cin, kernel_size, 1, cin, nn.ReLU))
            pointwise = nn.Sequential(*_conv_bn(cin, cout, 1, 1, 1, nn.ReLU))
            setattr(self, f"decode_conv{i}", nn.Sequential(depthwise, pointwise))
            cin = cout
        self.out_channels = cin
        self.count = len(widths)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        skips = dict(zip(MobileNetEncoder.taps, feats))
        x = feats[-1]
        for i in range(1, self.count + 1):
            x = getattr(self, f"decode_conv{i}")(x)
            skip = skips.get(SKIPS.get(i, -1))
            if skip is None:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            else:  # nearest to the skip's size: exactly 2x for sides that are multiples of 32
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest") + skip
        return x


def fastdepth(input_size=INPUT_SIZE) -> DepthNet:
    """FastDepth, pruned: RGB / 255 ``(B, 3, H, W)`` -> ``(B, 1, H, W)`` metres.

    1,360,786 parameters (1,352,225 with BatchNorm folded, as in its TFLite file); 0.73 GFLOPs at
    224x224. ``input_size``: the size it is run at (default 224x224, its training size); sides should be
    multiples of 32.
    """
    encoder = MobileNetEncoder()
    decoder = NNConv5Decoder()
    head = nn.Sequential(OrderedDict(decode_conv6=nn.Sequential(*_conv_bn(decoder.out_channels, 1, 1, 1, 1, nn.ReLU))))
    return DepthNet(
        encoder, decoder, head, arch="fastdepth", input_size=input_size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
    )


# --- the weights of a FastDepth .tflite file ---------------------------------------------------

TFLITE_ACTIVATIONS = {nn.ReLU: 1, nn.ReLU6: 3}  # torch activation -> TFLite's fused activation code


def require_flatbuffer_utils(label: str):
    """LiteRT's flatbuffer reader (``ai_edge_litert.tools.flatbuffer_utils``), or one line naming the extra."""
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:
        raise LitedepthError(
            f"{label}: reading FastDepth's TFLite weights needs the 'ai-edge-litert' package: "
            "pip install 'litedepth[litert]'"
        ) from None
    return flatbuffer_utils


def _layers(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d, type[nn.Module]]]:
    """Every (convolution, its BatchNorm, its activation's type) of ``model``, in forward order."""
    leaves = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6))]
    return [(leaves[i], leaves[i + 1], type(leaves[i + 2])) for i in range(0, len(leaves), 3)]


def _dequantise(model, tensor) -> np.ndarray:
    """A constant int8/int32 tensor of a TFLite model as float32: ``(q - zero_point) * scale``, per channel."""
    dtype = {9: np.int8, 2: np.int32}.get(tensor.type)
    q = tensor.quantization
    if dtype is None or q is None or q.scale is None:
        raise ValueError(f"tensor {tensor.name.decode()} is not an int8/int32 quantised constant")
    values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype=dtype).reshape(tensor.shape)
    shape = [1] * values.ndim
    if len(q.scale) > 1:
        shape[q.quantizedDimension] = len(q.scale)
    scale = np.asarray(q.scale, np.float32).reshape(shape)
    zero = np.asarray(q.zeroPoint if q.zeroPoint is not None else 0, np.float32).reshape(
        shape if len(q.scale) > 1 else []
    )
    return (values.astype(np.float32) - zero) * scale


def _conv_ops(model) -> list:
    """The CONV_2D and DEPTHWISE_CONV_2D operators of the main graph, in execution order."""
    from ai_edge_litert import schema_py_generated as schema

    kinds = {schema.BuiltinOperator.CONV_2D: "conv", schema.BuiltinOperator.DEPTHWISE_CONV_2D: "depthwise"}
    ops = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = kinds.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if kind is not None:
            ops.append((kind, op))
    return ops


def state_dict_from_tflite(data: bytes, label: str) -> dict[str, torch.Tensor]:
    """`fastdepth`'s state dict from the bytes of a FastDepth int8 ``.tflite`` file (needs ``litedepth[litert]``).

    Each convolution of the file, in execution order, goes to the network's next one: its weights
    dequantised per output channel (TFLite ``O x kh x kw x I`` and depthwise ``1 x kh x kw x C``
    to PyTorch's ``O x I x kh x kw``), its folded bias into the BatchNorm after it (weight 1, mean
    0, variance 1 - eps: an identity that adds the bias). Shapes, strides and fused activations
    are checked: anything else is one `LitedepthError` line naming ``label``.
    """
    flatbuffer_utils = require_flatbuffer_utils(label)
    net = fastdepth()
    try:
        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
        ops = _conv_ops(model)
    except Exception as exc:  # a damaged or foreign flatbuffer
        raise LitedepthError(f"{label}: not a readable .tflite file ({first_line(exc, 120)})") from None
    layers = _layers(net)
    if len(ops) != len(layers):
        raise LitedepthError(f"{label}: {len(ops)} convolutions, FastDepth has {len(layers)}: not FastDepth's graph")
    with torch.no_grad():
        for n, ((kind, op), (conv, bn, act)) in enumerate(zip(ops, layers)):
            try:
                _load_layer(model, kind, op, conv, bn, act)
            except ValueError as exc:
                raise LitedepthError(f"{label}: convolution {n} does not fit FastDepth ({exc})") from None
    return net.state_dict()


def _load_layer(model, kind: str, op, conv: nn.Conv2d, bn: nn.BatchNorm2d, act: type[nn.Module]) -> None:
    """One TFLite convolution into ``conv`` and ``bn``; ValueError for a mismatch."""
    graph = model.subgraphs[0]
    weight = _dequantise(model, graph.tensors[op.inputs[1]])
    bias = _dequantise(model, graph.tensors[op.inputs[2]])
    weight = weight.transpose(3, 0, 1, 2) if kind == "depthwise" else weight.transpose(0, 3, 1, 2)
    options = op.builtinOptions
    depthwise = conv.groups > 1
    if depthwise != (kind == "depthwise") or tuple(weight.shape) != tuple(conv.weight.shape):
        raise ValueError(f"{kind} {list(weight.shape)}, expected {list(conv.weight.shape)}")
    if (options.strideH, options.strideW) != conv.stride:
        raise ValueError(f"stride {(options.strideH, options.strideW)}, expected {conv.stride}")
    if options.fusedActivationFunction != TFLITE_ACTIVATIONS[act]:
        raise ValueError(f"fused activation {options.fusedActivationFunction}, expected {act.__name__}")
    conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
    bn.weight.fill_(1.0)
    bn.bias.copy_(torch.from_numpy(bias.reshape(-1)))
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)
