#!/usr/bin/env python3
"""VGGFace (VGG16 with 2,622 classes) inference in PyTorch, for bench_vgg's comparison.

Prints one line: `pytorch <images per second>`, the best of --reps timed forward passes of a batch of
--batch random images at --size x --size x 3 (after one warm-up pass), on --threads threads.
Run by bench_vgg with Debian's /usr/bin/python3 (python3-torch) and OPENBLAS_NUM_THREADS=1.
"""
import argparse
import time

import torch
import torch.nn as nn


def vggface(classes=2622, size=224):
    layers, cin = [], 3
    for width, reps in zip([64, 128, 256, 512, 512], [2, 2, 3, 3, 3]):
        for _ in range(reps):
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
            cin = width
        layers.append(nn.MaxPool2d(2))
    side = size // 32
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * side * side, 4096), nn.ReLU(inplace=True),
                         nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, classes))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = vggface(size=a.size).eval()
    x = torch.randn(a.batch, 3, a.size, a.size)
    best = float('inf')
    with torch.no_grad():
        model(x)
        for _ in range(a.reps):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    print('pytorch %.3f' % (a.batch / best))


if __name__ == '__main__':
    main()
