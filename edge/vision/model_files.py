"""Where detector model files live and the class names they are trained on."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_NAME = "nanodet-coco-416.onnx"
MODEL_ENV_VAR = "OUTPOST_MODEL"

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


class ModelNotFoundError(FileNotFoundError):
    """No detector model file could be found."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}. Run `outpost-provision model build-default` to build the default model, "
            f"or set {MODEL_ENV_VAR} / detector.model_path to an ONNX file."
        )


def repo_root() -> Path:
    """Return the directory that holds the `edge` package."""
    return Path(__file__).resolve().parent.parent.parent


SYSTEM_MODELS_DIR = Path("/var/lib/outpost/models")
"""The models folder of an installed box: inside the service's StateDirectory, so systemd's ProtectHome= (which
hides every home directory, and so every user's cache) does not hide it. `outpost-provision model build-default`
and `model import` put models here when run as root."""


def candidate_model_paths() -> list[Path]:
    """Return the default model locations in the order they are tried."""
    candidates: list[Path] = []
    env = os.environ.get(MODEL_ENV_VAR)
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(SYSTEM_MODELS_DIR / DEFAULT_MODEL_NAME)
    candidates.append(repo_root().parent / "shared" / "models" / DEFAULT_MODEL_NAME)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    candidates.append(Path(cache) / "outpost" / "models" / DEFAULT_MODEL_NAME)
    return candidates


def default_model_path() -> Path | None:
    """Return the first existing default model file, or None."""
    for path in candidate_model_paths():
        if path.is_file():
            return path
    return None


def resolve_model_path(configured: Path | None) -> Path:
    """Return the configured model file or the default one; raise ModelNotFoundError if absent."""
    if configured is not None:
        if not configured.is_file():
            raise ModelNotFoundError(f"detector model file {configured} does not exist")
        return configured
    found = default_model_path()
    if found is None:
        tried = ", ".join(str(p) for p in candidate_model_paths())
        raise ModelNotFoundError(f"no detector model found (tried {tried})")
    return found
