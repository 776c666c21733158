"""Rewrites a safetensors file without its `__metadata__`, as `safetensors.torch.save_file(
model.state_dict(), path)` writes a PyTorch model: what the page must understand from the tensor
names and shapes alone. Standard library only. Usage: python3 strip_metadata.py IN OUT
"""
import json
import struct
import sys

data = open(sys.argv[1], "rb").read()
(length,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + length])
header.pop("__metadata__", None)
encoded = json.dumps(header).encode()
encoded += b" " * (-len(encoded) % 8)  # keep the data section 8-byte aligned
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded + data[8 + length :])
