"""MediaPipe Hands as a 2D keypoint detector (optional extra: `pip install "s2hand[mediapipe]"`).

MediaPipe 0.10.14 bundles its palm-detection and hand-landmark models and runs offline through the legacy
`mediapipe.solutions.hands` API (newer releases ship no models; FACTS §6). Its 21 landmarks are in FreiHAND
order. It gives no per-landmark confidence, so every joint gets the hand's handedness score. Its handedness label
assumes a mirrored (selfie) image: on ordinary images the label "Left" marks the person's right hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2hand.errors import S2HandError

INSTALL_HINT = ('MediaPipe is not installed: pip install "s2hand[mediapipe]" (MediaPipe 0.10.14 bundles its hand '
                "models and runs offline; it needs protobuf<5)")


def require_mediapipe():
    try:
        import mediapipe
    except ImportError as error:
        raise S2HandError(INSTALL_HINT) from error
    if not hasattr(mediapipe, "solutions"):
        raise S2HandError(f"mediapipe {getattr(mediapipe, '__version__', '?')} has no bundled solutions.hands "
                          "models; install mediapipe==0.10.14 (pip install \"s2hand[mediapipe]\")")
    return mediapipe


@dataclass
class HandDetection:
    keypoints: np.ndarray  # (21, 2) pixels
    score: float  # handedness score in [0, 1]
    right: bool  # the person's right hand (MediaPipe's label un-mirrored)


class MediaPipeHands:
    """Callable: (H, W, 3) uint8 RGB -> detected hands, best first. Use as a context manager to free the graph."""

    def __init__(self, max_hands: int = 2, min_confidence: float = 0.3, static_images: bool = True,
                 model_complexity: int = 1) -> None:
        mediapipe = require_mediapipe()
        self.version = mediapipe.__version__
        self._hands = mediapipe.solutions.hands.Hands(
            static_image_mode=static_images, max_num_hands=max_hands, model_complexity=model_complexity,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def __call__(self, image: np.ndarray) -> list[HandDetection]:
        height, width = image.shape[:2]
        result = self._hands.process(np.ascontiguousarray(image))
        hands = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            xy = np.array([[p.x * width, p.y * height] for p in landmarks.landmark], dtype=np.float32)
            label = handedness.classification[0]
            hands.append(HandDetection(xy, float(label.score), right=label.label == "Left"))
        return sorted(hands, key=lambda h: -h.score)

    def describe(self) -> dict:
        return {"name": "mediapipe", "version": self.version}

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> MediaPipeHands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pick_right_hand(hands: list[HandDetection]) -> HandDetection | None:
    """The most confident right hand, else the most confident hand (mirrored later if it is a left hand)."""
    right = [h for h in hands if h.right]
    return right[0] if right else (hands[0] if hands else None)
