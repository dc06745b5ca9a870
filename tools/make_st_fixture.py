#!/usr/bin/env python3
"""Writes tests/fixtures/st_python.safetensors the way the official safetensors writer does,
using only json and struct (the safetensors package is not available here):
  - u64 little-endian header length, then compact JSON (serde_json style: no spaces,
    non-ASCII written raw), "__metadata__" first;
  - tensors ordered as the Rust writer sorts them: by dtype, descending in its enum order
    (I64 > F64 > F32 > I32 > U8), then by name, with contiguous data_offsets in that order;
  - the header padded with spaces to a multiple of 8 bytes.
tests/test_safetensors.c checks the values below; change both together."""
import json
import struct
import sys

# (name, dtype, shape, struct code, values)
TENSORS = [
    ("ids", "I64", [3], "q", [-5, 0, 2**40]),
    ("scalar", "F64", [], "d", [3.141592653589793]),
    ("decoder.w", "F32", [2, 3], "f", [0.5 * i - 1.0 for i in range(6)]),
    ("embed", "F32", [4], "f", [1.25, -2.5, 1e-3, 65504.0]),
    ("empty", "F32", [0, 3], "f", []),
    ("counts", "I32", [2, 2], "i", [1, -2, 3, -2**31]),
    ("mask", "U8", [5], "B", [0, 1, 255, 7, 128]),
]
META = {"format": "pt", "note": "caf\u00e9 \u2713 \"quoted\""}


def main(path):
    header = {"__metadata__": META}
    data = b""
    for name, dtype, shape, code, values in TENSORS:
        raw = struct.pack("<%d%s" % (len(values), code), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    hdr = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdr += b" " * ((8 - len(hdr) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/st_python.safetensors")
