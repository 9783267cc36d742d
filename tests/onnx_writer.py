"""A minimal ONNX writer: models whose outputs are constant tensors, built without the onnx package.

Enough to give onnxruntime a real model file of any detector layout (input shape, output shapes, metadata);
onnxruntime loads and runs it like an exported detector.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_int(field: int, value: int) -> bytes:
    """Encode a protobuf varint field."""
    return _varint(field << 3) + _varint(value)


def pb_msg(field: int, data: bytes | str) -> bytes:
    """Encode a protobuf length-delimited field."""
    raw = data.encode() if isinstance(data, str) else data
    return _varint(field << 3 | 2) + _varint(len(raw)) + raw


def _value_info(name: str, shape: list[int | str]) -> bytes:
    dims = b"".join(pb_msg(1, pb_int(1, d) if isinstance(d, int) else pb_msg(2, d)) for d in shape)
    tensor_type = pb_int(1, 1) + pb_msg(2, dims)  # elem_type FLOAT
    return pb_msg(1, name) + pb_msg(2, pb_msg(1, tensor_type))


def _constant_node(name: str, value: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(value, dtype=np.float32)
    tensor = b"".join(pb_int(1, d) for d in arr.shape) + pb_int(2, 1) + pb_msg(9, arr.tobytes())
    attribute = pb_msg(1, "value") + pb_int(20, 4) + pb_msg(5, tensor)  # type TENSOR
    return pb_msg(2, name) + pb_msg(3, f"const_{name}") + pb_msg(4, "Constant") + pb_msg(5, attribute)


def constant_outputs_model(
    input_shape: list[int | str], outputs: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> bytes:
    """Serialise an ONNX model (input "images") whose outputs are the given constant tensors, with metadata."""
    graph = b"".join(pb_msg(1, _constant_node(name, value)) for name, value in outputs.items())
    graph += pb_msg(2, "g") + pb_msg(11, _value_info("images", input_shape))
    for name, value in outputs.items():
        graph += pb_msg(12, _value_info(name, list(value.shape)))
    model = pb_int(1, 8) + pb_msg(2, "outpost-tests") + pb_msg(7, graph) + pb_msg(8, pb_msg(1, "") + pb_int(2, 17))
    for key, text in metadata.items():
        model += pb_msg(14, pb_msg(1, key) + pb_msg(2, text))
    return model


def constant_output_model(input_shape: list[int | str], output: np.ndarray, metadata: Mapping[str, str]) -> bytes:
    """Serialise an ONNX model whose single output "output0" is a constant tensor, with metadata props."""
    return constant_outputs_model(input_shape, {"output0": output}, metadata)
