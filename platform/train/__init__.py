"""Training core (one process): stages, optimiser and schedule, the loop, checkpoints and exact resume."""
