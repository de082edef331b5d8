#!/usr/bin/env python3
"""Alpha-beta model of data-parallel training for docs/distributed.md.

Reads the lines of build-bench/benchmarks/bench_distributed on stdin (or the file given) and prints, for each example
model, the predicted step time and scaling efficiency at 8 and 64 nodes on 25 and 100 Gb/s links.

  step(P) = compute + allreduce(P, 4 * trainable) + exchange(P) [+ gather(P) + mining(P) for in-batch losses]
  allreduce(P, n) = 2 (P - 1) alpha + 2 (P - 1) / P * n / beta      (ring: reduce-scatter, then all-gather)
  exchange(P)     = 2 ceil(log2 P) alpha                             (the 48-byte status exchange of every step)
  gather(P, n)    = (P - 1) alpha + (P - 1) / P * n / beta           (ring all-gather of the embeddings)
Weak scaling: each node keeps one machine's batch, so the global batch grows with P; efficiency = compute / step(P).
alpha is the loopback figure (the software's share of a message; a switched network adds its own microseconds).
"""
import math
import re
import sys

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
num = lambda pattern: float(re.search(pattern, text).group(1))
alpha = num(r"alpha ([\d.]+) us") * 1e-6
loop_beta = num(r"beta ([\d.]+) GB/s") * 1e9
pair_ms = num(r"siamese_cnn ([\d.]+) ms")
triplet_ms = num(r"triplet_cnn ([\d.]+) ms")
mining_ms = num(r"embeddings ([\d.]+) ms")
pair_params = num(r"siamese_cnn (\d+) floats")
triplet_params = num(r"triplet_cnn (\d+) floats")

# name, trainable floats, compute per step (s) or None, note, in-batch (rows per node, width) or None
models = [
    ("fashion_mnist_siamese (128 pairs)", pair_params, pair_ms / 1e3, "measured here", None),
    ("fashion_mnist_triplet (160 samples, SemiHard)", triplet_params, triplet_ms / 1e3, "measured here", (160, 64)),
    ("text_similarity LSTM (128 pairs)", 2_055_341, 128 / 3675.4, "README, AVX-512 machine", None),
    ("kinship VGGFace, last block trains (8 pairs 64x64)", 7_079_424 + 205_101, 0.3582, "docs/vggface.md", None),
    ("kinship VGGFace, all trains (8 pairs 64x64)", 14_714_688 + 205_101, 1.0891, "docs/vggface.md", None),
    ("MiniLM-L6 fine-tuning, all blocks", 22_565_376, None, "compute not measured", None),
    ("kinship ResNet-50", 23_561_152, None, "compute not measured", None),
]
mining_per_pair = mining_ms / 1e3 / 2560**2  # s per (row, row) pair of the miner, one thread


def step(P, beta, floats, compute, inbatch):
    n = 4 * floats
    t = 2 * (P - 1) * alpha + 2 * (P - 1) / P * n / beta + 2 * math.ceil(math.log2(P)) * alpha
    if inbatch:
        rows, width = inbatch
        t += (P - 1) * alpha + (P - 1) / P * P * rows * (width + 1) * 4 / beta
        t += mining_per_pair * ((P * rows) ** 2 - rows**2)  # the miner's growth over one node's batch
    return (compute or 0) + t


print(f"inputs: alpha {alpha*1e6:.1f} us, loopback beta {loop_beta/1e9:.2f} GB/s, mining {mining_per_pair*1e9:.2f} ns per pair")
print("| model | trainable floats | compute/step | link | step at 8 | eff. 8 | step at 64 | eff. 64 |")
print("|---|---|---|---|---|---|---|---|")
for name, floats, compute, note, inbatch in models:
    for gbps in (25, 100):
        beta = gbps * 1e9 / 8
        cells = []
        for P in (8, 64):
            s = step(P, beta, floats, compute, inbatch)
            cells += [f"{s*1e3:.1f} ms", f"{compute/s:.0%}" if compute else "-"]
        c = f"{compute*1e3:.1f} ms ({note})" if compute else note
        print(f"| {name} | {int(floats):,} | {c} | {gbps} Gb/s | " + " | ".join(cells) + " |")
