"""Deployment: export, runtimes, quantisation, BatchNorm folding, FLOP counting and the benchmark."""
