"""Faster torch eager inference: fold BatchNorm into convolutions, optionally channels-last.

>>> fast = optimize_for_inference(model)          # a copy; ``model`` is left untouched
>>> with torch.inference_mode():
...     depth = fast(x)                             # same output as model(x), up to ~1e-6

Folding is found by running the network once with hooks: a ``BatchNorm2d`` whose input
is exactly the output tensor of a ``Conv2d`` (each called once) is merged into that
convolution (``W' = W * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``) and
replaced by ``nn.Identity``. The result is checked against the original on the same
input; a mismatch raises instead of returning a wrong network. The folded copy has no
BN keys in its state dict: it is for inference, not for saving or training.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def has_depthwise(model: nn.Module) -> bool:
    """Whether ``model`` has grouped (e.g. depthwise) convolutions."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in model.modules())


def _named_modules_with_parent(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Module]]:
    for parent_name, parent in model.named_modules():
        for child_name, child in parent.named_children():
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            yield full, child, child_name, parent


def find_conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """Names ``(conv, bn)`` of every BatchNorm2d applied directly to a Conv2d's output.

    Runs ``model(example)`` once with forward hooks; modules called more than once are skipped.
    """
    calls: dict[str, int] = {}
    conv_outputs: dict[int, str] = {}
    alive: list[torch.Tensor] = []  # keep outputs alive during the pass so that ids are not reused
    pairs: list[tuple[str, str]] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):

            def conv_hook(mod, inputs, output, name=name):
                calls[name] = calls.get(name, 0) + 1
                conv_outputs[id(output)] = name
                alive.append(output)

            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.BatchNorm2d):

            def bn_hook(mod, inputs, name=name):
                calls[name] = calls.get(name, 0) + 1
                conv = conv_outputs.get(id(inputs[0]))
                if conv is not None:
                    pairs.append((conv, name))

            handles.append(module.register_forward_pre_hook(bn_hook))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return [(c, b) for c, b in pairs if calls.get(c) == 1 and calls.get(b) == 1]


def fold_batchnorm(
    model: nn.Module, example: torch.Tensor | None = None, inplace: bool = False, rtol: float = 1e-4
) -> nn.Module:
    """Merge every BatchNorm2d that directly follows a Conv2d into it (eval-mode statistics).

    ``example`` is an input for the tracing pass (default: ``(1, 3, *model.input_size)`` zeros
    plus noise). Returns the folded model (a deep copy unless ``inplace``), in eval mode.
    Raises ``RuntimeError`` if the folded network's output differs from the original's
    by more than ``rtol`` relative to the output's largest magnitude.
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    if example is None:
        h, w = getattr(model, "input_size", (64, 96))
        example = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = example.to(device)
    with torch.no_grad():
        reference = model(example)
    pairs = find_conv_bn_pairs(model, example)
    modules = dict(model.named_modules())
    parents = {full: (child_name, parent) for full, _, child_name, parent in _named_modules_with_parent(model)}
    for conv_name, bn_name in pairs:
        fused = fuse_conv_bn_eval(modules[conv_name], modules[bn_name])
        child, parent = parents[conv_name]
        setattr(parent, child, fused)
        child, parent = parents[bn_name]
        setattr(parent, child, nn.Identity())
    with torch.no_grad():
        out = model(example)
    scale = reference.abs().max().item() + 1e-12
    err = (out - reference).abs().max().item()
    if err > rtol * scale:
        raise RuntimeError(f"BatchNorm folding changed the output: max abs diff {err:.3g} (output max {scale:.3g})")
    return model


def optimize_for_inference(
    model: nn.Module, channels_last: bool | None = None, example: torch.Tensor | None = None
) -> nn.Module:
    """A copy of ``model`` for fast eager inference: BN folded, eval mode, no gradients.

    ``channels_last`` converts the weights to ``torch.channels_last``; convolutions then run
    NHWC kernels whatever the input layout. Default (None): on for networks with depthwise
    convolutions, for which oneDNN's NHWC kernels are the faster ones on CPU (MobileNetV2
    students), off otherwise (ResNet teachers gain nothing and meet occasional slow paths).
    Call the result under ``torch.inference_mode()`` (`litedepth.inference.predict` does).
    Attributes such as ``arch``, ``input_size``, ``mean``, ``std`` are kept.
    """
    if channels_last is None:
        channels_last = has_depthwise(model)
    folded = fold_batchnorm(model, example=example)
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    for p in folded.parameters():
        p.requires_grad_(False)
    folded.metadata = {
        **getattr(model, "metadata", {}),
        "optimized": {"bn_folded": True, "channels_last": bool(channels_last)},
    }
    return folded
