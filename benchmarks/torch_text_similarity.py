#!/usr/bin/env python3
"""examples/text_similarity in PyTorch, on the same pairs, split, tokens and schedule: the accuracy peer.

Usage: torch_text_similarity.py [--train FILE] [--epochs N] [--batch N] [--seed N] [--lr X]
                                [--init torch|keras] [--update dense|sparse] [--unmasked] [--threads N]

Data as the example takes it: FILE (Quora train.csv format), or without --train the definition pairs of
scripts/make_text_pairs, generated into a temporary folder. The split is the library's siamese::split()
re-implemented exactly (SplitMix64, partial Fisher-Yates): a seeded 20% of the pairs is the test set, then
10% of the rest (seed + 1) the validation set, so both programs train, stop and calibrate on the same pairs.
Tokens follow the library's (and Keras') Tokenizer: ASCII lower-casing, Keras' default filters, split on
spaces, vocabulary ranked by count (ties: first appearance) over the training questions, num_words 20000,
out-of-vocabulary words dropped; padded and truncated to 30 tokens at the front ('pre').

Model: Embedding 20000 x 100 (padding_idx 0), LSTM 64 (last state), head (a-b)^2, a^2-b^2, cos(a,b), then
Linear 100 ReLU, Dropout 0.1, Linear 1; BCE on the logit; Adam (lr 3e-4 as the example, eps 1e-7); batches of
64 pairs, reshuffled every epoch, sides swapped at random; early stopping on the validation loss (patience 3,
best weights restored); the threshold that maximises validation accuracy is applied to the test pairs.
  --init torch (default): PyTorch's initialisers (Embedding N(0, 1), LSTM U(+-1/sqrt(64)), Linear
         kaiming_uniform(a=sqrt(5)) kernels and U(+-1/sqrt(fan_in)) biases);
  --init keras: Keras' (Embedding U(+-0.05), glorot_uniform kernels, orthogonal recurrent kernel, unit
         forget bias, zero biases), the library's LSTM and Dense initialisers.
  --update dense (default): torch.optim.Adam over the whole table; sparse: SparseAdam on the table (only
         the rows of the batch move, as the library's row-sparse Adam does).
  --unmasked: run nn.LSTM over the padding steps too (the default packs the sequences, so padding is
         skipped as the library's masked LSTM skips it).
Prints the example's lines: "epoch i/N: loss L, val_loss V (S s)", then "test: roc_auc=... accuracy=...".
"""
import argparse
import collections
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from torch_common import pair_features

LENGTH, VOCAB, DIM, UNITS = 30, 20000, 100, 64
MASK64 = (1 << 64) - 1
FILTERS = set('!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def split_next(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def split(pairs, fraction, seed):
    """siamese::split(): (train, validation), both in input order."""
    n = len(pairs)
    n_val = int(math.floor(fraction * n + 0.5))
    perm = list(range(n))
    state = seed & MASK64
    i = 0
    while i < n_val and i + 1 < n:
        bound = n - i
        limit = MASK64 - (MASK64 % bound)
        while True:
            state, x = split_next(state)
            if x < limit:
                break
        j = i + x % bound
        perm[i], perm[j] = perm[j], perm[i]
        i += 1
    in_val = set(perm[:n_val])
    return [p for k, p in enumerate(pairs) if k not in in_val], [p for k, p in enumerate(pairs) if k in in_val]


def words(text):
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    return [w for w in "".join(" " if c in FILTERS else c for c in lowered).split(" ") if w]


class Tokenizer:
    """Keras' Tokenizer without an oov_token: words ranked by count, ties in order of first appearance."""

    def __init__(self, texts, num_words):
        counts = collections.OrderedDict()
        for t in texts:
            for w in words(t):
                counts[w] = counts.get(w, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep first appearance
        self.index = {w: i + 1 for i, (w, _) in enumerate(ranked)}
        self.num_words = num_words

    def ids(self, text):
        seq = [self.index[w] for w in words(text) if w in self.index and self.index[w] < self.num_words]
        seq = seq[-LENGTH:]  # truncating 'pre'
        return [0] * (LENGTH - len(seq)) + seq  # padding 'pre'


def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    q1, q2, lab = head.index("question1"), head.index("question2"), head.index("is_duplicate")
    return [(r[q1], r[q2], int(r[lab])) for r in body if len(r) == len(head) and r[lab] in ("0", "1")]


def encode(tok, pairs):
    a = torch.tensor([tok.ids(p[0]) for p in pairs], dtype=torch.long)
    b = torch.tensor([tok.ids(p[1]) for p in pairs], dtype=torch.long)
    return a, b, torch.tensor([float(p[2]) for p in pairs])


class SiameseLstm(nn.Module):
    def __init__(self, init, sparse, masked):
        super().__init__()
        self.masked = masked
        self.embedding = nn.Embedding(VOCAB, DIM, padding_idx=0, sparse=sparse)
        self.lstm = nn.LSTM(DIM, UNITS, batch_first=True)
        self.classifier = nn.Sequential(
            nn.Linear(2 * UNITS + 1, 100), nn.ReLU(), nn.Dropout(0.1), nn.Linear(100, 1))
        if init == "keras":
            with torch.no_grad():
                nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
                self.embedding.weight[0].zero_()
                # Keras' kernel is (F, 4u), PyTorch's weight_ih (4u, F): the same fans, transposed.
                nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
                nn.init.orthogonal_(self.lstm.weight_hh_l0)
                self.lstm.bias_ih_l0.zero_()
                self.lstm.bias_hh_l0.zero_()
                self.lstm.bias_ih_l0[UNITS:2 * UNITS] = 1.0  # gate order i, f, g, o in both
                for m in self.classifier:
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)
                        m.bias.zero_()

    def encode(self, ids):
        if not self.masked:
            _, (h, _) = self.lstm(self.embedding(ids))
            return h[-1]
        # Pre-padded rows: move each row's tokens to the front, in order, then pack (padding is skipped).
        lengths = (ids != 0).sum(1)
        front = torch.sort((ids == 0).long() * LENGTH + torch.arange(LENGTH), dim=1)[1]
        x = self.embedding(torch.gather(ids, 1, front))
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return h[-1] * (lengths > 0).unsqueeze(1).float()  # an all-padding text: the zero state, as masked

    def forward(self, a, b):
        e = self.encode(torch.cat([a, b]))
        ea, eb = e[:a.shape[0]], e[a.shape[0]:]
        return self.classifier(pair_features(ea, eb)).squeeze(1)


def roc_auc(scores, labels):
    """Exact ROC AUC, ties counted half (Mann-Whitney)."""
    s = sorted(zip(scores, labels))
    rank_sum, i, n = 0.0, 0, len(s)
    while i < n:
        j = i
        while j < n and s[j][0] == s[i][0]:
            j += 1
        avg = (i + 1 + j) / 2.0
        rank_sum += avg * sum(1 for k in range(i, j) if s[k][1] == 1)
        i = j
    pos = sum(1 for _, l in s if l == 1)
    neg = n - pos
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def calibrate(scores, labels):
    """The library's calibrate_threshold(): the accuracy-maximising threshold, lowest on ties, midway."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    correct = sum(1 for l in labels if l == 1)
    best, best_t, i = correct, scores[order[0]], 0
    while i < len(order):
        s = scores[order[i]]
        while i < len(order) and scores[order[i]] == s:
            correct += -1 if labels[order[i]] == 1 else 1
            i += 1
        if correct > best:
            best = correct
            best_t = (s + scores[order[i]]) / 2 if i < len(order) else math.nextafter(s, math.inf)
    return best_t, best / len(scores)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--init", choices=["torch", "keras"], default="torch")
    ap.add_argument("--update", choices=["dense", "sparse"], default="dense")
    ap.add_argument("--unmasked", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    o = ap.parse_args()
    torch.set_num_threads(o.threads)
    start = time.perf_counter()

    tmp = None
    path = o.train
    if not path:
        tmp = tempfile.mkdtemp(prefix="torch_text_similarity_")
        path = os.path.join(tmp, "definition_pairs.csv")
        subprocess.run([os.path.join(REPO, "scripts", "make_text_pairs"), path, "--max-words", "1000000"], check=True)
    pairs = load(path)
    if tmp:
        shutil.rmtree(tmp)
    rest, test_pairs = split(pairs, 0.2, o.seed)
    train_pairs, val_pairs = split(rest, 0.1, o.seed + 1)
    print(f"data: {len(train_pairs)} training, {len(val_pairs)} validation, {len(test_pairs)} test pairs")
    tok = Tokenizer([q for p in train_pairs for q in p[:2]], VOCAB)
    print(f"tokenizer: {len(tok.index)} words in the training questions, {min(len(tok.index), VOCAB - 1)} kept")
    train, val, test = encode(tok, train_pairs), encode(tok, val_pairs), encode(tok, test_pairs)

    torch.manual_seed(o.seed)
    model = SiameseLstm(o.init, o.update == "sparse", not o.unmasked)
    if o.update == "sparse":
        table = [model.embedding.weight]
        rest_params = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
        opts = [torch.optim.SparseAdam(table, lr=o.lr, eps=1e-7), torch.optim.Adam(rest_params, lr=o.lr, eps=1e-7)]
    else:
        opts = [torch.optim.Adam(model.parameters(), lr=o.lr, eps=1e-7)]
    bce = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(o.seed)

    def predict(data):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(data[0][i:i + 512], data[1][i:i + 512]) for i in range(0, len(data[2]), 512)])

    best_val, best_epoch, best_state, bad = math.inf, 0, None, 0
    losses = []
    n = len(train[2])
    for epoch in range(o.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        swap = torch.randint(0, 2, (n,), generator=gen).bool()
        total, steps = 0.0, 0
        for k in range(n // o.batch):
            rows = order[k * o.batch:(k + 1) * o.batch]
            a, b, y = train[0][rows], train[1][rows], train[2][rows]
            s = swap[rows].unsqueeze(1)
            a, b = torch.where(s, b, a), torch.where(s, a, b)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss = bce(model(a, b), y)
            loss.backward()
            for opt in opts:
                opt.step()
            total += loss.item()
            steps += 1
        v = bce(predict(val), val[2]).item()
        losses.append(total / steps)
        print(f"epoch {epoch + 1}/{o.epochs}: loss {total / steps:.4f}, val_loss {v:.4f} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)
        if v < best_val:
            best_val, best_epoch, bad = v, epoch, 0
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        else:
            bad += 1
            if bad >= 3:
                print(f"early stop: no better val_loss for 3 epochs (best: epoch {best_epoch + 1})")
                break
    model.load_state_dict(best_state)
    secs = time.perf_counter() - start

    val_scores = torch.sigmoid(predict(val)).tolist()
    test_scores = torch.sigmoid(predict(test)).tolist()
    val_labels, test_labels = val[2].tolist(), test[2].tolist()
    threshold, val_acc = calibrate(val_scores, val_labels)
    acc = sum(1 for s, l in zip(test_scores, test_labels) if (s >= threshold) == (l == 1)) / len(test_labels)
    print(f"training: {len(losses)} epochs (best: {best_epoch + 1}) in {secs:.1f} s")
    print(f"validation: roc_auc={roc_auc(val_scores, val_labels):.4f} accuracy={val_acc:.4f} at the calibrated threshold")
    print(f"test: roc_auc={roc_auc(test_scores, test_labels):.4f} accuracy={acc:.4f} threshold={threshold:.4f}")


if __name__ == "__main__":
    main()
