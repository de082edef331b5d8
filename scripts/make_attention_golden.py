#!/usr/bin/env python3
"""Writes tests/layers/data/attention_golden.npz: a golden test of MultiHeadSelfAttention.

Hugging Face's BertSelfAttention (eager attention, absolute positions) followed by the dense layer of
BertSelfOutput (before its dropout, residual and LayerNorm), written out in numpy in float64 from
transformers' modeling_bert.py, so that no PyTorch install is needed:

    q, k, v = Linear(h) for query, key, value        (Linear: x W^T + b, W of shape (out, in))
    scores  = q_h k_h^T / sqrt(head_dim) + extended_mask
    extended_mask = (1 - attention_mask) * finfo(float32).min   (get_extended_attention_mask)
    probs   = softmax(scores, -1);  context = probs v_h, heads concatenated
    output  = Linear_o(context)

T = 7, Dim = 12, 3 heads, 2 samples: the first all tokens, the second 4 tokens then 3 of padding (id 0).
Inputs and weights are drawn in float32 and the math runs in float64 on those values. Kernels are
stored in Keras' (in, out) layout (W^T), under the layer's parameter names. BERT pads at the end and
lets padded queries attend (their rows are discarded later); the library gives those rows the output
bias instead, so the C++ test compares the valid positions only.
Run: python3 scripts/make_attention_golden.py (needs numpy).
"""
import math
import os

import numpy as np

T, DIM, HEADS, N = 7, 12, 3, 2


def linear(x, weight, bias):
    return x @ weight.T + bias


def split_heads(x):  # (n, T, Dim) -> (n, heads, T, head_dim), BertSelfAttention.transpose_for_scores
    n, t, _ = x.shape
    return x.reshape(n, t, HEADS, DIM // HEADS).transpose(0, 2, 1, 3)


def main():
    rng = np.random.default_rng(20240607)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    hidden = f32(rng.normal(0.0, 1.0, (N, T, DIM)))
    tokens = f32([[101, 2023, 2003, 1037, 3231, 6251, 102], [101, 7592, 2088, 102, 0, 0, 0]])
    attention_mask = (tokens != 0).astype(np.float64)
    weights = {}
    for part in ['query', 'key', 'value', 'output']:
        weights[part] = (f32(rng.normal(0.0, 0.4, (DIM, DIM))), f32(rng.normal(0.0, 0.1, DIM)))  # torch (out, in)

    h = hidden.astype(np.float64)
    w64 = {k: (w.astype(np.float64), b.astype(np.float64)) for k, (w, b) in weights.items()}
    q, k, v = (split_heads(linear(h, *w64[p])) for p in ['query', 'key', 'value'])
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(DIM // HEADS)
    extended = (1.0 - attention_mask[:, None, None, :]) * float(np.finfo(np.float32).min)
    scores = scores + extended
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(N, T, DIM)
    output = linear(context, *w64['output'])

    arrays = {'x': hidden, 'tokens': tokens, 'golden/probs': f32(probs), 'golden/output': f32(output)}
    for part, (w, b) in weights.items():
        arrays[part + '/kernel'] = np.ascontiguousarray(w.T)
        arrays[part + '/bias'] = b
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'layers', 'data',
                       'attention_golden.npz')
    np.savez(out, **arrays)
    print('%s: %d arrays' % (os.path.normpath(out), len(arrays)))


if __name__ == '__main__':
    main()
