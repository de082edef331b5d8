#!/usr/bin/env python3
"""Writes tests/loss/data/mnr_golden.txt: sentence-transformers' MultipleNegativesRankingLoss (and its symmetric
form) with autograd gradients on fixed random embeddings, for the library's MultipleNegativesRanking test.

Run once with the peers' environment (scripts/bench installs it; PyTorch 2.x and sentence-transformers from PyPI):
  ~/.cache/siamese/peers-venv/bin/python scripts/make_loss_golden.py
Format: a header line with the versions, then blocks "case NAME n d scale", a line of the 2n*d embeddings (anchors,
then candidates), a line with the loss, and a line with the 2n*d gradient, all in %.9g.
"""
import os

import numpy as np
import sentence_transformers
import torch
from sentence_transformers.sentence_transformer import losses


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "loss", "data", "mnr_golden.txt")
    rng = np.random.default_rng(20261203)
    lines = [f"# sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}"]
    for name, n, d, scale in [("mnr", 5, 7, 20.0), ("symmetric", 6, 4, 20.0), ("mnr", 8, 16, 5.0),
                              ("symmetric", 3, 9, 1.0)]:
        e = rng.normal(size=(2 * n, d)).astype(np.float32)
        t = torch.tensor(e, dtype=torch.float64, requires_grad=True)
        if name == "mnr":
            loss_fn = losses.MultipleNegativesRankingLoss(model=None, scale=scale)
        else:
            loss_fn = losses.MultipleNegativesRankingLoss(model=None, scale=scale,
                                                          directions=("query_to_doc", "doc_to_query"),
                                                          partition_mode="per_direction")
        loss = loss_fn.compute_loss_from_embeddings([t[:n], t[n:]], None)
        loss.backward()
        lines.append(f"case {name} {n} {d} {scale}")
        lines.append(" ".join(f"{v:.9g}" for v in e.ravel()))
        lines.append(f"{loss.item():.12g}")
        lines.append(" ".join(f"{v:.9g}" for v in t.grad.numpy().ravel()))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
