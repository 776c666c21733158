"""Rewrites a PyTorch-layout safetensors file (no metadata) as a model with N classes: the
classifier's rows are cut to the first N, or the ten repeated up to N. What a user's model
trained on another label set looks like to the page. Standard library only.
Usage: python3 reclass.py IN OUT N
"""
import json
import struct
import sys

SIZES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8}

source, target, classes = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(source, "rb").read()
(length,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + length])
header.pop("__metadata__", None)
body = data[8 + length :]

tensors = {}
for name, info in header.items():
    start, end = info["data_offsets"]
    raw = body[start:end]
    if name in ("linear.weight", "linear.bias"):
        rows = info["shape"][0]
        row_bytes = len(raw) // rows
        raw = b"".join(raw[(k % rows) * row_bytes : (k % rows + 1) * row_bytes] for k in range(classes))
        info["shape"][0] = classes
    tensors[name] = (info["dtype"], info["shape"], raw)

out_header, chunks, offset = {}, [], 0
for name, (dtype, shape, raw) in sorted(tensors.items()):
    assert len(raw) % SIZES[dtype] == 0
    out_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    chunks.append(raw)
    offset += len(raw)
encoded = json.dumps(out_header).encode()
encoded += b" " * (-len(encoded) % 8)
with open(target, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))
