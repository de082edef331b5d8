#!/usr/bin/env python3
"""Writes the golden files of tests/io/test_safetensors.cpp with the `safetensors` package itself.

Run once (the outputs are committed); it re-runs itself in the peers' virtual environment (scripts/peers_venv,
created once: PyTorch, sentence-transformers, safetensors):
    python3 scripts/make_safetensors_golden.py

Writes into tests/io/data/:
  golden_f32.safetensors    F32 tensors of rank 0 to 3, an empty one, and '__metadata__' (safetensors.numpy)
  golden_f16.safetensors    F16: random values and the edge cases (signed zero, subnormals, max, inf, NaN)
  golden_bf16.safetensors   BF16: the same for bfloat16                                      (safetensors.torch)
  golden_mixed.safetensors  F32, F16, BF16 and an I64 buffer like BERT's position_ids         (safetensors.torch)
  golden_f64.safetensors    one F64 tensor, a dtype the library refuses to read                (safetensors.numpy)
  safetensors_golden.tsv    per tensor: file, name, dtype, shape, and the float32 bit patterns of its values as
                            torch widens them (`t.float()`), '-' for the I64 buffer
  minilm_safetensors.tsv    all-MiniLM-L6-v2's model.safetensors (from scripts/fetch_minilm): per tensor in file
                            order its name, dtype, shape and the float64 sum of its values (numpy), as loaded by
                            safetensors.numpy.load_file; a first line with the file's '__metadata__'
"""
import json
import os
import sys

import peers

peers.reexec_in_venv()

import numpy as np  # noqa: E402  (from the venv)
import safetensors  # noqa: E402
import safetensors.numpy  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402

ROOT = peers.ROOT
OUT = os.path.join(ROOT, "tests", "io", "data")


def f16_special():
    return torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08,
                         -3.0e-07, float("inf"), float("-inf"), float("nan"), 0.1, 1.0 / 3.0], dtype=torch.float16)


def bf16_special():
    return torch.tensor([0.0, -0.0, 1.0, -2.5, 3.3895313892515355e38, 1.1754943508222875e-38, 9.18354961579912e-41,
                         -1.0e-40, float("inf"), float("-inf"), float("nan"), 0.1, 1.0 / 3.0], dtype=torch.bfloat16)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20261203)
    rng = np.random.default_rng(20261203)
    files = {
        "golden_f32.safetensors": ("numpy", {
            "scalar": np.array(-1.75, dtype=np.float32),
            "vector": rng.standard_normal(5).astype(np.float32),
            "matrix": rng.standard_normal((3, 4)).astype(np.float32),
            "block.cube": (rng.standard_normal((2, 3, 2)) * 1e-3).astype(np.float32),
            "empty": np.zeros((0, 3), dtype=np.float32),
        }, {"format": "np", "written_by": "scripts/make_safetensors_golden.py"}),
        "golden_f16.safetensors": ("torch", {
            "values": torch.randn(4, 8, generator=g).to(torch.float16),
            "special": f16_special(),
        }, None),
        "golden_bf16.safetensors": ("torch", {
            "values": torch.randn(3, 5, generator=g).to(torch.bfloat16),
            "special": bf16_special(),
        }, None),
        "golden_mixed.safetensors": ("torch", {
            "embeddings.position_ids": torch.arange(6, dtype=torch.int64).reshape(1, 6),
            "dense.weight": torch.randn(3, 2, generator=g),
            "dense.bias": torch.randn(3, generator=g).to(torch.float16),
            "norm.weight": torch.randn(2, generator=g).to(torch.bfloat16),
            "empty_bf16": torch.zeros(2, 0, dtype=torch.bfloat16),
        }, {"format": "pt"}),
        "golden_f64.safetensors": ("numpy", {"double": np.array([0.5, -1.25], dtype=np.float64)}, None),
    }
    rows = []
    for name, (writer, tensors, meta) in files.items():
        path = os.path.join(OUT, name)
        if writer == "numpy":
            safetensors.numpy.save_file(tensors, path, metadata=meta)
        else:
            safetensors.torch.save_file(tensors, path, metadata=meta)
        # read back with the package, so that the expected values are what the file holds
        back = safetensors.torch.load_file(path)
        for t, v in back.items():
            dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
                     torch.float64: "F64"}[v.dtype]
            shape = ",".join(str(d) for d in v.shape)
            if dtype in ("F32", "F16", "BF16"):
                bits = v.float().contiguous().view(torch.int32).flatten().tolist()
                values = " ".join("%08x" % (b & 0xFFFFFFFF) for b in bits) or "."
            else:
                values = "-"
            rows.append("\t".join([name, t, dtype, shape, values]))
        print("%s: %d bytes, %d tensors" % (name, os.path.getsize(path), len(back)))
    with open(os.path.join(OUT, "safetensors_golden.tsv"), "w") as f:
        f.write("# file\ttensor\tdtype\tshape\tfloat32 bits of the values (torch's .float()); written by "
                "scripts/make_safetensors_golden.py\n")
        f.write("\n".join(sorted(rows)) + "\n")

    model = os.path.join(peers.minilm_folder(), "model.safetensors")
    arrays = safetensors.numpy.load_file(model)
    with open(model, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__", {})
    order = sorted(header, key=lambda k: tuple(header[k]["data_offsets"]))
    with open(os.path.join(OUT, "minilm_safetensors.tsv"), "w") as f:
        f.write("# all-MiniLM-L6-v2 model.safetensors: tensor, dtype, shape, float64 sum (numpy) in file order; "
                "written by scripts/make_safetensors_golden.py\n")
        f.write("__metadata__\t" + json.dumps(meta, sort_keys=True) + "\n")
        for k in order:
            a = arrays[k]
            f.write("\t".join([k, header[k]["dtype"], ",".join(str(d) for d in a.shape),
                               repr(float(a.astype(np.float64).sum()))]) + "\n")
    print("minilm_safetensors.tsv: %d tensors" % len(order))
    print("safetensors %s, torch %s, numpy %s, python %s" % (safetensors.__version__, torch.__version__,
                                                          np.__version__, sys.version.split()[0]))


if __name__ == "__main__":
    main()
