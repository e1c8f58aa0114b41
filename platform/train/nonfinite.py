"""A NaN/inf loss skips the step and is counted; K in a row stop the run with the name of the offending term."""
from __future__ import annotations

import math

import torch

from s2hand.errors import S2HandError


class TrainingDiverged(S2HandError):
    pass


class NonFiniteGuard:
    def __init__(self, max_consecutive: int) -> None:
        self.max_consecutive = max_consecutive
        self.consecutive = 0
        self.skipped = 0

    def check(self, total: torch.Tensor, terms: dict[str, torch.Tensor], step: int) -> bool:
        """True if the step may proceed. Raises TrainingDiverged after max_consecutive bad steps in a row."""
        if bool(torch.isfinite(total)):
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.skipped += 1
        bad = [name for name, value in terms.items() if not math.isfinite(float(value.detach()))]
        if self.consecutive >= self.max_consecutive:
            raise TrainingDiverged(
                f"loss was NaN/inf for {self.consecutive} steps in a row (last at step {step}); "
                f"non-finite terms: {', '.join(bad) or 'the total only (overflow in the weighted sum)'}"
            )
        return False
