#!/usr/bin/env python3
"""PyTorch counterparts of bench_text's workloads: the text pair model of examples/text_similarity.

Embedding 20000 x 100, LSTM 64 (last state), head (a-b)^2, a^2-b^2, cos(a,b), then Dense 100 ReLU,
Dropout 0.1, Dense 1; BCE on the logit; Adam. The library updates the embedding table row-sparse
(only the rows present in a batch); PyTorch does that with nn.Embedding(sparse=True) and SparseAdam,
which on the CPU is slower than its default dense update of the whole table: the training rate
printed is the faster of the two. Batches of 128 pairs of 30 token ids in 1..19999 (no
padding, so nn.LSTM needs no mask). Prints "<name> <pairs per second>" per workload (the median of the
timed rounds after a warm-up). Usage: torch_text.py [threads] [rounds]
"""
import sys

import torch
from torch import nn

from torch_common import median_rate, pair_features

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
BATCH, LENGTH, VOCAB = 128, 30, 20000


class SiameseLstm(nn.Module):
    def __init__(self, sparse):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 100, padding_idx=0, sparse=sparse)
        self.lstm = nn.LSTM(100, 64, batch_first=True)
        self.classifier = nn.Sequential(
            nn.Linear(64 + 64 + 1, 100), nn.ReLU(), nn.Dropout(0.1), nn.Linear(100, 1))

    def encode(self, ids):
        _, (h, _) = self.lstm(self.embedding(ids))
        return h[-1]

    def forward(self, a, b):
        # Both sides as one batch of 2n, as the C++ model runs them.
        e = self.encode(torch.cat([a, b]))
        ea, eb = e[:a.shape[0]], e[a.shape[0]:]
        return self.classifier(pair_features(ea, eb)).squeeze(1)


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    a = torch.randint(1, VOCAB, (BATCH, LENGTH))
    b = torch.randint(1, VOCAB, (BATCH, LENGTH))
    labels = (torch.arange(BATCH) % 2).float()
    def trainer(sparse):
        torch.manual_seed(1)
        model = SiameseLstm(sparse)
        if sparse:
            table = [model.embedding.weight]
            dense = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
            opts = [torch.optim.SparseAdam(table, lr=1e-3, eps=1e-7), torch.optim.Adam(dense, lr=1e-3, eps=1e-7)]
        else:
            opts = [torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)]
        bce = nn.BCEWithLogitsLoss()

        def train():
            model.train()
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss = bce(model(a, b), labels)
            loss.backward()
            for opt in opts:
                opt.step()
        return model, train

    model, train_dense = trainer(False)
    _, train_sparse = trainer(True)

    def infer():
        model.eval()
        with torch.no_grad():
            torch.sigmoid(model(a, b))

    dense = median_rate(train_dense, BATCH, ROUNDS, 5)
    sparse = median_rate(train_sparse, BATCH, ROUNDS, 5)
    print(f"torch_text: dense update {dense:.1f} pairs/s, sparse update {sparse:.1f} pairs/s", file=sys.stderr)
    print(f"siamese_lstm_train {max(dense, sparse):.1f}", flush=True)
    print(f"siamese_lstm_infer {median_rate(infer, BATCH, ROUNDS, 10):.1f}", flush=True)


if __name__ == "__main__":
    main()
