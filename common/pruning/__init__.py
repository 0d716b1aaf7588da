"""Pruning algorithms, one module each; ``surgery`` builds the smaller cfg models."""
