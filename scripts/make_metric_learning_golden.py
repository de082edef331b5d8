#!/usr/bin/env python3
"""Writes the golden files of pytorch-metric-learning's definitions that the library is tested against:

  tests/eval/data/accuracy_golden.txt   AccuracyCalculator (precision_at_1, r_precision, mean_average_precision_at_r,
                                        NMI) on fixed embeddings, with recall@k from the same k-nearest neighbours;
  tests/loss/data/pml_losses_golden.txt NTXentLoss, SupConLoss, MultiSimilarityLoss (with and without
                                        MultiSimilarityMiner), ArcFaceLoss and CosFaceLoss: losses and autograd
                                        gradients in float64.

Run once with the peers' environment (scripts/peers_venv; PyTorch 2.x and pytorch-metric-learning from PyPI):
  "$(scripts/peers_venv)/bin/python" scripts/make_metric_learning_golden.py

Neighbours come from CustomKNN(LpDistance(normalize_embeddings=False)) (plain L2, as FaissKNN's IndexFlatL2) and
clusters from scikit-learn's KMeans (AccuracyCalculator's default FaissKMeans needs faiss): the embeddings are
blobs far apart, so that any k-means finds the blobs; labels disagree with the blobs on some points, so NMI is not 1.

accuracy_golden.txt: blocks "case NAME nq nr d ref_includes_query", a line of query labels, a line of the nq*d query
embeddings, the same two lines for the references, then "metric value" lines (p_at_1, r_precision, map_at_r, nmi,
recall_at_K for K in 1 2 4 8), then "end". A query whose label has no reference is a lone query and is skipped.
Then blocks "nmi n" with two lines of assignments and a line with scikit-learn's normalized_mutual_info_score.

pml_losses_golden.txt: blocks "case LOSS n d p1 p2 p3" (ntxent T, supcon T, multisimilarity alpha beta base,
ms_mined alpha beta base with MultiSimilarityMiner(epsilon=0.1)), a line of n labels, a line of the n*d embeddings,
a line with the loss, a line with the n*d gradient; all in %.9g (losses %.12g). Then blocks "refcase LOSS n m d
params" of queries against m references (ref_emb): query labels, query embeddings, reference labels, reference
embeddings, the loss and the queries' gradient. Then blocks "classcase LOSS n d classes scale margin" (arcface,
cosface; the margin in radians for both, the library's unit: the script converts it to the degrees ArcFaceLoss
takes): n labels, the n*d embeddings, the classes*d class weights (row c: class c's vector, the transpose of the
loss's W), the loss, the embeddings' gradient and the class weights' gradient (classes*d, rows as the weights).
"""
import os

import numpy as np
import pytorch_metric_learning
import sklearn
import torch
from pytorch_metric_learning import losses, miners
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def fmt(a):
    return " ".join(f"{v:.9g}" for v in np.asarray(a).ravel())


def blobs(rng, n, d, classes, noise):
    """n points around `classes` centres 12 apart; the label is the blob, except a `noise` share relabelled."""
    centres = rng.normal(size=(classes, d)) * 12.0
    blob = rng.integers(0, classes, size=n)
    x = (centres[blob] + rng.normal(size=(n, d))).astype(np.float32)
    labels = blob.copy()
    flip = rng.random(n) < noise
    labels[flip] = rng.integers(0, classes, size=int(flip.sum()))
    return x, labels, centres


def accuracy_cases(rng):
    lines = []
    knn = CustomKNN(LpDistance(normalize_embeddings=False, p=2, power=1))

    def kmeans(x, k):
        return torch.tensor(KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x.cpu().numpy()))

    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r", "NMI"),
                              knn_func=knn, kmeans_func=kmeans, device=torch.device("cpu"))
    # (name, nq, nr_extra, d, classes, noise, ref_includes_query)
    for name, nq, nr, d, classes, noise, self_ref in [("split", 60, 150, 8, 6, 0.15, False),
                                                      ("self", 120, 0, 6, 5, 0.2, True),
                                                      ("self_extra", 50, 80, 5, 4, 0.25, True),
                                                      ("split_lone", 40, 90, 7, 5, 0.3, False)]:
        x, lab, _ = blobs(rng, nq + nr, d, classes, noise)
        if self_ref:
            q, ql, r, rl = x[:nq], lab[:nq], x, lab
        else:
            q, ql, r, rl = x[:nq], lab[:nq], x[nq:], lab[nq:]
        if name == "split_lone":  # a label no reference has: its queries are lone and skipped; they form a blob
            ql, q = ql.copy(), q.copy()  # of their own, so that k-means (one cluster per query label) is unambiguous
            ql[:3] = classes + 7
            q[:3] = (rng.normal(size=d) * 12.0 + rng.normal(size=(3, d))).astype(np.float32)
        res = calc.get_accuracy(q, ql, r, rl, ref_includes_query=self_ref)
        # recall@k: at least one same-label item among the k nearest (the metric-learning Recall@K), from the same
        # neighbours, over the queries that are not lone.
        _, idx = knn(torch.tensor(q), 8, torch.tensor(r), self_ref)
        idx = idx.numpy()
        counts = {l: int((rl == l).sum()) - (1 if self_ref else 0) for l in np.unique(ql)}
        keep = np.array([counts[l] > 0 for l in ql])
        lines.append(f"case {name} {nq} {len(r)} {d} {int(self_ref)}")
        lines.append(" ".join(str(int(v)) for v in ql))
        lines.append(fmt(q))
        lines.append(" ".join(str(int(v)) for v in rl))
        lines.append(fmt(r))
        lines.append(f"p_at_1 {res['precision_at_1']:.12g}")
        lines.append(f"r_precision {res['r_precision']:.12g}")
        lines.append(f"map_at_r {res['mean_average_precision_at_r']:.12g}")
        lines.append(f"nmi {res['NMI']:.12g}")
        for k in (1, 2, 4, 8):
            hit = (rl[idx[:, :k]] == ql[:, None]).any(axis=1)
            lines.append(f"recall_at_{k} {hit[keep].mean():.12g}")
        lines.append("end")
    for n, ka, kb in [(40, 3, 5), (100, 7, 7), (25, 1, 4)]:
        a = rng.integers(0, ka, size=n)
        b = rng.integers(0, kb, size=n)
        lines.append(f"nmi {n}")
        lines.append(" ".join(map(str, a)))
        lines.append(" ".join(map(str, b)))
        lines.append(f"{normalized_mutual_info_score(a, b):.12g}")
    return lines


def loss_cases(rng):
    lines = []
    for name, n, d, p, classes in [("ntxent", 12, 6, (0.07,), 4), ("ntxent", 9, 5, (0.5,), 3),
                                   ("supcon", 12, 6, (0.1,), 4), ("supcon", 10, 4, (1.0,), 5),
                                   ("multisimilarity", 12, 6, (2.0, 50.0, 0.5), 4),
                                   ("multisimilarity", 10, 5, (1.0, 10.0, 0.3), 3),
                                   ("ms_mined", 16, 6, (2.0, 50.0, 0.5), 4), ("ms_mined", 12, 3, (2.0, 10.0, 0.5), 3)]:
        e = rng.normal(size=(n, d)).astype(np.float32)
        labels = rng.integers(0, classes, size=n)
        if name == "supcon" and n == 10:
            labels[-1] = 99  # a sample with no positive: no term of its own, still a negative of the others
        t = torch.tensor(e, dtype=torch.float64, requires_grad=True)
        lt = torch.tensor(labels)
        if name == "ntxent":
            loss = losses.NTXentLoss(temperature=p[0])(t, lt)
        elif name == "supcon":
            loss = losses.SupConLoss(temperature=p[0])(t, lt)
        else:
            fn = losses.MultiSimilarityLoss(alpha=p[0], beta=p[1], base=p[2])
            if name == "ms_mined":
                loss = fn(t, lt, miners.MultiSimilarityMiner(epsilon=0.1)(t, lt))
            else:
                loss = fn(t, lt)
        loss.backward()
        lines.append(f"case {name} {n} {d} " + " ".join(f"{v:.9g}" for v in p))
        lines.append(" ".join(str(int(v)) for v in labels))
        lines.append(fmt(e))
        lines.append(f"{loss.item():.12g}")
        lines.append(fmt(t.grad.numpy()))
    # Queries against a separate reference set (the loss's ref_emb, ref_labels): what CrossBatchMemory computes
    # from a batch and its memory of earlier batches; the gradient is the batch's (the memory is a constant).
    for name, n, m, d, p, classes in [("ntxent", 8, 20, 5, (0.1,), 4), ("supcon", 8, 20, 5, (0.1,), 4),
                                      ("multisimilarity", 8, 20, 5, (2.0, 50.0, 0.5), 4),
                                      ("ms_mined", 10, 24, 5, (2.0, 50.0, 0.5), 4)]:
        e = rng.normal(size=(n, d)).astype(np.float32)
        r = rng.normal(size=(m, d)).astype(np.float32)
        labels = rng.integers(0, classes, size=n)
        ref_labels = rng.integers(0, classes, size=m)
        t = torch.tensor(e, dtype=torch.float64, requires_grad=True)
        rt = torch.tensor(r, dtype=torch.float64)
        lt, rlt = torch.tensor(labels), torch.tensor(ref_labels)
        if name == "ntxent":
            loss = losses.NTXentLoss(temperature=p[0])(t, lt, ref_emb=rt, ref_labels=rlt)
        elif name == "supcon":
            loss = losses.SupConLoss(temperature=p[0])(t, lt, ref_emb=rt, ref_labels=rlt)
        else:
            fn = losses.MultiSimilarityLoss(alpha=p[0], beta=p[1], base=p[2])
            mined = miners.MultiSimilarityMiner(epsilon=0.1)(t, lt, rt, rlt) if name == "ms_mined" else None
            loss = fn(t, lt, mined, ref_emb=rt, ref_labels=rlt)
        loss.backward()
        lines.append(f"refcase {name} {n} {m} {d} " + " ".join(f"{v:.9g}" for v in p))
        lines.append(" ".join(str(int(v)) for v in labels))
        lines.append(fmt(e))
        lines.append(" ".join(str(int(v)) for v in ref_labels))
        lines.append(fmt(r))
        lines.append(f"{loss.item():.12g}")
        lines.append(fmt(t.grad.numpy()))
    return lines


def class_cases(rng):
    lines = []
    # (loss, n, d, classes, scale, margin in radians); margin 1.2 puts some angles past pi - margin (ArcFace's
    # other branch); 7 classes over 9 samples leave some classes without a sample.
    for name, n, d, classes, scale, margin in [("arcface", 12, 6, 5, 8.0, 0.5), ("arcface", 10, 4, 3, 30.0, 1.2),
                                               ("arcface", 8, 5, 4, 64.0, 0.5), ("cosface", 12, 6, 5, 8.0, 0.35),
                                               ("cosface", 9, 5, 7, 30.0, 0.2)]:
        e = rng.normal(size=(n, d)).astype(np.float32)
        w = rng.normal(size=(classes, d)).astype(np.float32)
        labels = rng.integers(0, classes, size=n)
        t = torch.tensor(e, dtype=torch.float64, requires_grad=True)
        if name == "arcface":
            fn = losses.ArcFaceLoss(num_classes=classes, embedding_size=d, margin=float(np.degrees(margin)),
                                    scale=scale)
        else:
            fn = losses.CosFaceLoss(num_classes=classes, embedding_size=d, margin=margin, scale=scale)
        fn.W.data = torch.tensor(w.T.copy(), dtype=torch.float64)
        loss = fn(t, torch.tensor(labels))
        loss.backward()
        lines.append(f"classcase {name} {n} {d} {classes} {scale:.9g} {margin:.9g}")
        lines.append(" ".join(str(int(v)) for v in labels))
        lines.append(fmt(e))
        lines.append(fmt(w))
        lines.append(f"{loss.item():.12g}")
        lines.append(fmt(t.grad.numpy()))
        lines.append(fmt(fn.W.grad.numpy().T))
    return lines


def main():
    rng = np.random.default_rng(20261203)
    head = (f"# pytorch-metric-learning {pytorch_metric_learning.__version__}, torch {torch.__version__}, "
            f"scikit-learn {sklearn.__version__}")
    for rel, lines in [("tests/eval/data/accuracy_golden.txt", accuracy_cases(rng)),
                       ("tests/loss/data/pml_losses_golden.txt", loss_cases(rng) + class_cases(np.random.default_rng(20261204)))]:
        out = os.path.join(ROOT, rel)
        with open(out, "w") as f:
            f.write("\n".join([head] + lines) + "\n")
        print("wrote", out)


if __name__ == "__main__":
    main()
