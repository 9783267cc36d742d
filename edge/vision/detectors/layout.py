"""Decide which detector layout an ONNX model has: the one check shared by the edge and provisioning.

`outpost-provision model import` and the edge's ``type = "auto"`` both call `model_layout`, so a model the
import accepts is one the edge loads, with the same classes. The rules:

- one image input NCHW ``[N,3,H,W]``;
- **NanoDet**: six rank-3 outputs with fixed shapes, one (class scores, box bins) pair per stride 8/16/32,
  paired by cell count ``(S/stride)^2`` at the fixed square input size S; box bins are ``4*(reg_max+1)``;
- **Ultralytics YOLO**: one output ``[1|N, 4+nc, A]`` or ``[1|N, A, 4+nc]``;
- class names, for both: the model's ``names`` metadata (a dict ``{0: 'person', ...}`` or a list) when present,
  otherwise the 80 COCO classes when the class count is 80; any other count without ``names`` is refused,
  because the labels would be guesses.

Pure over shapes and metadata (no inference), so it is cheap and testable on hand-written shapes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import onnxruntime as ort

from edge.vision.detectors.base import DetectorError
from edge.vision.model_files import COCO_CLASSES

NANODET_STRIDES: tuple[int, ...] = (8, 16, 32)
LayoutFamily = Literal["nanodet", "yolo"]
Shape = Sequence[Any]  # onnxruntime shapes: ints for fixed dims, str/None for symbolic ones


class ModelLayoutError(DetectorError):
    """The model's inputs/outputs match no supported detector layout (the message says why)."""

    def __init__(self, reason: str, prefix: str = "") -> None:
        super().__init__(prefix + reason)
        self.reason = reason
        """What is wrong, without the leading 'no supported detector layout'."""


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """What a decoder needs to know about a detector model's inputs and outputs."""

    family: LayoutFamily
    classes: tuple[str, ...]
    """Class names in output order."""
    input_size: int | None
    """Fixed square input side (or the export's ``imgsz`` metadata); None: dynamic, the caller chooses."""
    dynamic_input: bool
    """Whether the input's height/width are symbolic (the model takes other sizes)."""
    output_names: tuple[str, ...]
    """Outputs in decoding order: NanoDet scores by stride then boxes by stride; YOLO its one output."""
    reg_max: int | None = None
    """NanoDet: box bins per side minus one; None for YOLO."""
    names_from_metadata: bool = False
    """Whether the class names come from the model's ``names`` metadata (else the COCO default)."""


def model_layout(session: ort.InferenceSession) -> ModelLayout:
    """Return the detector layout of an open onnxruntime session, or raise ModelLayoutError."""
    return describe_layout(
        [(i.name, i.shape) for i in session.get_inputs()],
        [(o.name, o.shape) for o in session.get_outputs()],
        session.get_modelmeta().custom_metadata_map,
    )


def checked_layout(session: ort.InferenceSession, family: str) -> ModelLayout:
    """Return the session's layout, which must be `family` (a backend chosen by config checks its model)."""
    layout = model_layout(session)
    if layout.family != family:
        raise ModelLayoutError(f'the model has the {layout.family} layout, not {family}; set type = "auto"')
    return layout


def describe_layout(
    inputs: Sequence[tuple[str, Shape]], outputs: Sequence[tuple[str, Shape]], metadata: Mapping[str, str]
) -> ModelLayout:
    """Return the detector layout from (name, shape) pairs and the model's custom metadata."""
    try:
        return _describe(inputs, outputs, metadata)
    except ModelLayoutError as err:
        raise ModelLayoutError(err.reason, "no supported detector layout (NanoDet or Ultralytics YOLO): ") from None


def _describe(
    inputs: Sequence[tuple[str, Shape]], outputs: Sequence[tuple[str, Shape]], metadata: Mapping[str, str]
) -> ModelLayout:
    found = f"inputs {[list(s) for _, s in inputs]}, outputs {[list(s) for _, s in outputs]}"
    if len(inputs) != 1 or len(inputs[0][1]) != 4 or inputs[0][1][1] != 3:
        raise ModelLayoutError(f"expected one NCHW image input [1,3,S,S]; found {found}")
    height, width = inputs[0][1][2], inputs[0][1][3]
    dynamic = not (isinstance(height, int) and isinstance(width, int))
    if not dynamic and (height != width or height <= 0):
        raise ModelLayoutError(f"input {height}x{width} is not square; export with a square image size")
    size = _metadata_size(metadata) if dynamic else int(height)

    if len(outputs) == 2 * len(NANODET_STRIDES):
        if dynamic or size is None:
            raise ModelLayoutError(f"NanoDet needs a fixed square input [1,3,S,S]; found {found}")
        return _nanodet_layout(size, outputs, metadata)
    if len(outputs) == 1 and len(outputs[0][1]) == 3:
        return _yolo_layout(size, dynamic, outputs[0], metadata)
    raise ModelLayoutError(
        f"unrecognised detector layout ({found}); expected NanoDet (six outputs [1,cells,classes] and "
        "[1,cells,4*bins] for strides 8/16/32) or Ultralytics YOLO (one output [1,4+classes,N] or [1,N,4+classes])"
    )


def parse_names(text: str) -> tuple[str, ...]:
    """Parse Ultralytics' ``names`` metadata: a dict literal with ids 0..n-1, or a list of names."""
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
        raise ModelLayoutError(f"cannot parse the model's `names` metadata: {text[:80]!r}") from err
    if isinstance(names, dict):
        if not all(isinstance(k, int) for k in names) or sorted(names) != list(range(len(names))):
            raise ModelLayoutError(f"`names` metadata ids are not 0..n-1: {sorted(names, key=str)[:10]}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise ModelLayoutError("`names` metadata is not a dict {0: 'name', ...} or a non-empty list of names")
    return tuple(names)


def _classes(count: int, metadata: Mapping[str, str], where: str) -> tuple[tuple[str, ...], bool]:
    """Return (class names, from metadata) for a head of `count` classes."""
    if "names" in metadata:
        names = parse_names(metadata["names"])
        if len(names) != count:
            raise ModelLayoutError(f"`names` lists {len(names)} classes but {where} has {count}")
        return names, True
    if count == len(COCO_CLASSES):
        return COCO_CLASSES, False
    raise ModelLayoutError(
        f"{where} has {count} classes and the model has no `names` metadata: only an 80-class head is taken "
        "as COCO; add names (Ultralytics exports carry them) to use other classes"
    )


def _nanodet_layout(size: int, outputs: Sequence[tuple[str, Shape]], metadata: Mapping[str, str]) -> ModelLayout:
    by_cells: dict[int, list[tuple[str, int]]] = {}
    for name, shape in outputs:
        if len(shape) != 3 or not all(isinstance(d, int) for d in shape[1:]) or not _batch_ok(shape[0]):
            raise ModelLayoutError(f"six outputs but {name} {list(shape)} is not [1|batch,cells,channels]")
        by_cells.setdefault(int(shape[1]), []).append((name, int(shape[2])))
    cells = [(size // stride) ** 2 for stride in NANODET_STRIDES]
    if size % 32 or sorted(by_cells) != sorted(cells) or any(len(v) != 2 for v in by_cells.values()):
        shapes = [list(s) for _, s in outputs]
        raise ModelLayoutError(
            f"six outputs {shapes} do not pair up as NanoDet's strides 8/16/32 at input {size} (cells {cells})"
        )
    named = parse_names(metadata["names"]) if "names" in metadata else None
    score_channels = len(named) if named is not None else len(COCO_CLASSES)
    scores: list[str] = []
    boxes: list[str] = []
    box_channels: set[int] = set()
    for n in cells:
        pair = by_cells[n]
        # The class head is the one with the class count; the other holds the box bins.
        heads = sorted(pair, key=lambda p: p[1] != score_channels)
        (score_name, nc), (box_name, bins) = heads
        if nc != score_channels:
            _classes(nc, metadata, f"NanoDet class head {score_name}")  # raises with the reason
        if bins % 4 or bins < 8:
            raise ModelLayoutError(f"NanoDet box output {box_name} has {bins} channels, not 4 x bins")
        scores.append(score_name)
        boxes.append(box_name)
        box_channels.add(bins)
    if len(box_channels) != 1:
        raise ModelLayoutError(f"NanoDet box outputs disagree on their channel count: {sorted(box_channels)}")
    classes, from_meta = _classes(score_channels, metadata, "the NanoDet class head")
    return ModelLayout(
        family="nanodet",
        classes=classes,
        input_size=size,
        dynamic_input=False,
        output_names=tuple(scores + boxes),
        reg_max=box_channels.pop() // 4 - 1,
        names_from_metadata=from_meta,
    )


def _yolo_layout(
    size: int | None, dynamic: bool, output: tuple[str, Shape], metadata: Mapping[str, str]
) -> ModelLayout:
    name, shape = output
    if not _batch_ok(shape[0]):
        raise ModelLayoutError(f"YOLO output {list(shape)} must have batch 1 or a dynamic batch")
    fixed = [d for d in shape[1:] if isinstance(d, int) and d > 0]
    if "names" in metadata:
        count = len(parse_names(metadata["names"]))
    else:
        count = len(COCO_CLASSES)
        if 4 + count not in fixed:
            small = min(fixed, default=0)
            raise ModelLayoutError(
                f"YOLO output {list(shape)} has {small - 4 if small > 4 else 'an unknown number of'} classes and "
                "the model has no `names` metadata: only an 80-class head is taken as COCO; add names "
                "(Ultralytics exports carry them) to use other classes"
            )
    if fixed and 4 + count not in fixed:
        raise ModelLayoutError(f"YOLO output {list(shape)} is not [1,4+nc,N] or [1,N,4+nc] for {count} classes")
    classes, from_meta = _classes(count, metadata, f"YOLO output {name}")
    return ModelLayout(
        family="yolo",
        classes=classes,
        input_size=size,
        dynamic_input=dynamic,
        output_names=(name,),
        names_from_metadata=from_meta,
    )


def _batch_ok(dim: Any) -> bool:
    """Return whether a batch dimension is 1 or dynamic (symbolic, unknown or -1)."""
    return not isinstance(dim, int) or dim == 1 or dim <= 0


def _metadata_size(metadata: Mapping[str, str]) -> int | None:
    """Return the export image size from Ultralytics' ``imgsz`` metadata when it is square, else None."""
    text = metadata.get("imgsz")
    if not text:
        return None
    try:
        dims = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(dims, int) and dims > 0:
        return dims
    if isinstance(dims, list | tuple) and len(dims) == 2 and dims[0] == dims[1] and isinstance(dims[0], int):
        return dims[0] if dims[0] > 0 else None
    return None
