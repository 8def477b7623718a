"""Evaluation: metrics (pure tensor functions) and the evaluation loop under named protocols."""
