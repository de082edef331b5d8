#!/usr/bin/env python3
"""PyTorch counterparts of bench_models' workloads, in PyTorch's native NCHW layout.

Prints one line per workload: "<name> <items per second>" (the median of the timed
rounds after a warm-up). bench_models runs it as a subprocess with
OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.
Usage: torch_models.py [threads] [rounds]
"""
import sys

import torch
from torch import nn

from torch_common import median_rate, pair_features

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
BATCH = 128


def encoder():
    # Input 28x28x1, Conv2D 32 3x3 ReLU, MaxPool 2, Conv2D 64 3x3 ReLU, MaxPool 2, Flatten, Dense 128.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128))


class SiameseCnn(nn.Module):
    """Head SqDiff, DiffSq, Cosine, then Dense 64 ReLU, Dropout 0.2, Dense 1 (a logit)."""

    def __init__(self):
        super().__init__()
        self.encoder = encoder()
        self.classifier = nn.Sequential(
            nn.Linear(128 + 128 + 1, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1))

    def forward(self, a, b):
        # Both sides as one batch of 2n, as the C++ model runs them.
        e = self.encoder(torch.cat([a, b]))
        ea, eb = e[:a.shape[0]], e[a.shape[0]:]
        return self.classifier(pair_features(ea, eb)).squeeze(1)


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    a = torch.rand(BATCH, 1, 28, 28)
    b = torch.rand(BATCH, 1, 28, 28)
    labels = (torch.arange(BATCH) % 2).float()

    model = SiameseCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    bce = nn.BCEWithLogitsLoss()

    def pair_train():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = bce(model(a, b), labels)
        loss.backward()
        opt.step()

    def pair_infer():
        model.eval()
        with torch.no_grad():
            torch.sigmoid(model(a, b))

    triplet = encoder()
    topt = torch.optim.Adam(triplet.parameters(), lr=1e-3, eps=1e-7)
    neg = torch.rand(BATCH, 1, 28, 28)

    def triplet_train():
        topt.zero_grad(set_to_none=True)
        e = triplet(torch.cat([a, b, neg]))
        ea, ep, en = e[:BATCH], e[BATCH:2 * BATCH], e[2 * BATCH:]
        dp = ((ea - ep) ** 2).sum(1)
        dn = ((ea - en) ** 2).sum(1)
        loss = torch.clamp(dp - dn + 0.2, min=0).mean()
        loss.backward()
        topt.step()

    print(f"siamese_cnn_train {median_rate(pair_train, BATCH, ROUNDS, 5):.1f}", flush=True)
    print(f"siamese_cnn_infer {median_rate(pair_infer, BATCH, ROUNDS, 10):.1f}", flush=True)
    print(f"triplet_cnn_train {median_rate(triplet_train, BATCH, ROUNDS, 5):.1f}", flush=True)


if __name__ == "__main__":
    main()
