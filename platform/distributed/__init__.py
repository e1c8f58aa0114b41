"""Distributed training on Ray Train (TorchTrainer, DDP through Ray's helpers), tracked in MLflow."""
