#!/usr/bin/env python3
"""PyTorch eager counterparts of benchmarks/cuda's workloads, on the same GPU.

Prints one line per workload, "<workload> <rate> <unit>", the median of timed rounds after a
warm-up, as the C++ benchmarks do. Full FP32 as backend::Cuda by default: TF32 is off for
matrix products and cuDNN; cudnn.benchmark picks cuDNN's fastest algorithms. Each step copies
its batch from pageable host memory, as backend::Cuda's train_step and embed do; a training
step does not wait for its loss (backend::Cuda returns it to the host, so it does).
Usage: torch_cuda.py [workload ...] [--rounds N]
"""
import statistics
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

WORKLOADS = ("siamese_cnn_train", "vgg16_infer", "siamese_lstm_train")


def median_rate(step, items, rounds, reps):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        torch.cuda.synchronize()
        rates.append(items * reps / (time.perf_counter() - t0))
    return statistics.median(rates)


class PairHead(nn.Module):
    """SqDiff, DiffSq, Cosine, then Dense 64 ReLU, Dropout 0.2, Dense 1 (a logit)."""

    def __init__(self, dim):
        super().__init__()
        self.classifier = nn.Sequential(nn.Linear(2 * dim + 1, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1))

    def forward(self, ea, eb):
        cos = F.cosine_similarity(ea, eb, dim=1, eps=1e-6).unsqueeze(1)
        return self.classifier(torch.cat([(ea - eb) ** 2, ea * ea - eb * eb, cos], dim=1)).squeeze(1)


class Siamese(nn.Module):
    """One encoder over both sides of the pairs as one batch of 2n, as the C++ model runs them."""

    def __init__(self, encoder, dim):
        super().__init__()
        self.encoder = encoder
        self.head = PairHead(dim)

    def forward(self, a, b):
        e = self.encoder(torch.cat([a, b]))
        return self.head(e[: a.shape[0]], e[a.shape[0]:])


class LastState(nn.Module):
    """Embedding (id 0 = padding), LSTM, the last hidden state."""

    def __init__(self, vocab, dim, units):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, units, batch_first=True)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.embedding(ids))
        return h[-1]


def train_rate(model, a, b, labels, rounds, reps):
    dev = torch.device("cuda")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    bce = nn.BCEWithLogitsLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = bce(model(a.to(dev), b.to(dev)), labels.to(dev))
        loss.backward()
        opt.step()

    return median_rate(step, a.shape[0], rounds, reps)


def siamese_cnn_train(rounds):
    n = 1024
    encoder = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128))
    model = Siamese(encoder, 128).cuda()
    a, b = torch.rand(n, 1, 28, 28), torch.rand(n, 1, 28, 28)
    labels = (torch.arange(n) % 2).float()
    return train_rate(model, a, b, labels, rounds, 10), "pairs/s"


def vgg16(classes):
    layers, c = [], 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, classes))


def vgg16_infer(rounds):
    n = 64
    model = vgg16(2622).cuda().eval()
    x = torch.rand(n, 3, 224, 224) * 256 - 128

    def step():
        with torch.no_grad():
            model(x.cuda())

    return median_rate(step, n, rounds, 3), "images/s"


def siamese_lstm_train(rounds):
    n, steps, vocab = 1024, 30, 20000
    model = Siamese(LastState(vocab, 100, 128), 128).cuda()
    a = torch.randint(1, vocab, (n, steps))
    b = torch.randint(1, vocab, (n, steps))
    labels = (torch.arange(n) % 2).float()
    return train_rate(model, a, b, labels, rounds, 5), "pairs/s"


def main():
    args = sys.argv[1:]
    rounds = 5
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    chosen = args or list(WORKLOADS)
    if not torch.cuda.is_available():
        print("torch_cuda.py: PyTorch sees no CUDA device", file=sys.stderr)
        return 1
    if hasattr(torch.backends.cudnn, "conv"):  # PyTorch >= 2.9 (the old flags are deprecated there)
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cudnn.rnn.fp32_precision = "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name(0)}", file=sys.stderr)
    for w in chosen:
        if w not in WORKLOADS:
            print(f"torch_cuda.py: unknown workload '{w}' (known: {', '.join(WORKLOADS)})", file=sys.stderr)
            return 2
        rate, unit = globals()[w](rounds)
        print(f"{w} {rate:.1f} {unit}", flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
