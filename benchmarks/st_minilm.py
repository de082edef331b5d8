"""sentence-transformers' side of bench_minilm: all-MiniLM-L6-v2 on PyTorch's CPU, as users run it.

usage: st_minilm.py MODEL_DIR SENTENCES_FILE THREADS ROUNDS
Prints "<workload> <rate>" lines: minilm_encode (sentences/s, model.encode with batch 64, which pads each batch to
its longest sentence), minilm_encode_128 (every sentence padded to 128 tokens) and minilm_train (pairs/s of a
fine-tuning step with batch 32 and sentence-transformers' ContrastiveLoss, AdamW)."""
import sys

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses

from torch_common import median_rate


def main():
    folder, path, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    with open(path, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    model = SentenceTransformer(folder, device="cpu")
    model.max_seq_length = 128
    model.eval()
    n = len(sentences)

    def encode():
        model.encode(sentences, batch_size=64, convert_to_tensor=True)

    print("minilm_encode", median_rate(encode, n, rounds, 1), flush=True)

    feats = [model.tokenize(sentences[i:i + 64]) for i in range(0, n, 64)]
    for f in feats:
        for k in ("input_ids", "attention_mask", "token_type_ids"):
            if k in f:
                pad = 128 - f[k].shape[1]
                f[k] = torch.nn.functional.pad(f[k], (0, pad))

    def encode_128():
        with torch.inference_mode():
            for f in feats:
                model(f)

    print("minilm_encode_128", median_rate(encode_128, n, rounds, 1), flush=True)

    model.train()
    loss = losses.ContrastiveLoss(model)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    batch = 32
    a = [model.tokenize(sentences[i:i + batch]) for i in range(0, 8 * batch, batch)]
    b = [model.tokenize(sentences[i + batch // 2:i + batch // 2 + batch]) for i in range(0, 8 * batch, batch)]
    labels = torch.tensor([float(i % 2) for i in range(batch)])
    step = [0]

    def train():
        k = step[0] % len(a)
        step[0] += 1
        opt.zero_grad()
        value = loss([a[k], b[k]], labels)
        value.backward()
        opt.step()

    print("minilm_train", median_rate(train, batch, max(1, rounds // 2), 2), flush=True)


if __name__ == "__main__":
    main()
