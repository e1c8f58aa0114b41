"""Rotations and cameras: batched, differentiable, device-agnostic."""
