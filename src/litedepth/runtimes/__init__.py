"""Runtimes that run a depth network: PyTorch with BatchNorm folded, ONNX Runtime; each opens its own files and converts a network in memory."""
