"""Runs inside the export venv (tests/provisioning/ultralytics_venv.py), never imported by the tests.

Builds an untrained YOLO11n from Ultralytics' model YAML (no weight download) with the COCO class names,
saves it as .pt, exports it to ONNX, and detects on one frame with Ultralytics' own pre- and
post-processing around the PyTorch model, so the edge's decoding of the ONNX file can be compared with it.

    python ultralytics_reference.py WORK_DIR IMGSZ

WORK_DIR holds frame.npy (a BGR frame) and classes.json; writes yolo11n-untrained.{pt,onnx} and
reference.json (raw output shape, the chosen score threshold, Ultralytics' detections).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from ultralytics import YOLO
from ultralytics.data.augment import LetterBox
from ultralytics.utils.nms import non_max_suppression
from ultralytics.utils.ops import scale_boxes

work, imgsz = Path(sys.argv[1]), int(sys.argv[2])
frame = np.load(work / "frame.npy")
classes = json.loads((work / "classes.json").read_text())
IOU = 0.5

torch.manual_seed(7)  # the random initial weights, reproducible
model = YOLO("yolo11n.yaml")
model.model.names = dict(enumerate(classes))
# Ultralytics' initial weights shrink the signal to nothing over 100 layers: every anchor then scores the
# class head's prior exactly and all boxes are alike, which would compare nothing. Variance-keeping random
# weights give every anchor its own scores and box, still without any download or training.
with torch.no_grad():
    for module in model.model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    for branch in model.model.model[-1].cv3:  # the class head's prior (~1e-5) would squash every score alike
        branch[-1].bias.zero_()
model.save(str(work / "yolo11n-untrained.pt"))
onnx_path = model.export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False)

# Ultralytics' own pre- and post-processing around the PyTorch model. Not `YOLO.predict`: its warm-up imports
# torchvision, whose PyPI wheel is built for CUDA torch and does not load beside the CPU torch 2.13.0 wheel
# (export never imports it); without torchvision, Ultralytics' NMS uses its own TorchNMS, same results.
letterboxed = LetterBox(new_shape=(imgsz, imgsz), auto=False)(image=frame)
tensor = torch.from_numpy(np.ascontiguousarray(letterboxed[..., ::-1].transpose(2, 0, 1))[None]).float() / 255
net = model.model.eval()
with torch.no_grad():
    raw = net(tensor)
raw = raw[0] if isinstance(raw, list | tuple) else raw

# Untrained, the scores mean nothing but differ from anchor to anchor. Threshold between two of the highest
# per-anchor scores with the widest gap, so a hundred or so anchors pass and no score lies close enough to it
# for torch/onnxruntime rounding to change the outcome.
best = np.sort(raw[0, 4:].amax(0).numpy())[::-1]
gap_rank = max(range(40, 200), key=lambda r: best[r - 1] - best[r])
threshold = float(best[gap_rank - 1] + best[gap_rank]) / 2
kept = non_max_suppression(raw, threshold, IOU, max_det=300)[0]
kept[:, :4] = scale_boxes(tensor.shape[2:], kept[:, :4], frame.shape[:2])

reference = {
    "onnx": Path(onnx_path).name,
    "raw_shape": list(raw.shape),
    "threshold": threshold,
    "iou": IOU,
    "margin": float(best[gap_rank - 1] - best[gap_rank]),
    "anchors_over_threshold": gap_rank,
    "detections": [
        {"class_id": int(row[5]), "score": float(row[4]), "box": [float(v) for v in row[:4]]} for row in kept.numpy()
    ],
}
(work / "reference.json").write_text(json.dumps(reference, indent=1))
print(json.dumps({k: v for k, v in reference.items() if k != "detections"}))
