"""Test-only fault injection: make one training worker die by SIGKILL, once, to exercise Ray Train's recovery.

    S2HAND_FAULT_INJECT=RANK:EPOCH:MARKER   e.g. 1:1:/tmp/run/killed

set in the environment of the process that calls ``train()`` (the driver reads it and hands it to the workers,
since a running Ray cluster does not see the driver's later environment). The worker of world rank RANK kills
itself right after it has reported epoch EPOCH, but only once: it creates MARKER first, and a worker that finds
MARKER carries on, so the restarted worker group does not kill itself again.

Before dying it waits (up to a minute) until Ray's controller has registered that epoch's checkpoint: Ray takes a
report into account only once every rank's report has been polled, so a worker killed right after its own report
could otherwise make the restart begin from an older checkpoint, and the test of "recovers from the latest
checkpoint" would depend on timing.
"""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from s2hand.errors import ConfigError

FAULT_ENV = "S2HAND_FAULT_INJECT"
SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train V2's record of the registered checkpoints
REGISTRATION_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class KillAfterEpoch:
    rank: int
    epoch: int
    marker: Path

    @classmethod
    def parse(cls, text: str | None) -> KillAfterEpoch | None:
        if not text:
            return None
        try:
            rank, epoch, marker = text.split(":", 2)
            return cls(int(rank), int(epoch), Path(marker))
        except ValueError:
            raise ConfigError(f"{FAULT_ENV}={text!r}: expected RANK:EPOCH:MARKER_FILE, e.g. 1:1:/tmp/killed") from None

    def after_report(self, rank: int, epoch: int, run_dir: Path) -> None:
        """Called by every worker after each epoch's report; kills this process if the fault is due."""
        if rank != self.rank or epoch != self.epoch or not self._claim():
            return
        _wait_for_registration(run_dir / SNAPSHOT, f"epoch_{epoch:05d}", REGISTRATION_TIMEOUT_S)
        os.kill(os.getpid(), signal.SIGKILL)

    def _claim(self) -> bool:
        """Create the marker; False if it exists already (the fault has happened once)."""
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


def _wait_for_registration(snapshot: Path, checkpoint_dir: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if latest_registered(snapshot) == checkpoint_dir:
            return
        time.sleep(0.2)


def latest_registered(snapshot: Path) -> str | None:
    """The directory name of the latest checkpoint Ray has registered, from its snapshot (None if none yet)."""
    try:
        state = json.loads(snapshot.read_text())
    except (OSError, ValueError):  # absent, or caught mid-write (Ray does not write it atomically)
        return None
    latest = state.get("latest_checkpoint_result") or {}
    return latest.get("checkpoint_dir_name")
