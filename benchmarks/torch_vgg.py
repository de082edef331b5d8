"""VGGFace (VGG16 with 2,622 classes) inference in PyTorch, for bench_vgg's comparison.

Prints "vgg16_infer <images per second>": the median of the timed rounds (one forward pass of a batch of 8
random images at 224x224x3 each) after 3 warm-up passes, under torch.inference_mode, the faster of PyTorch's
two memory formats (NCHW, channels_last; each one's rate goes to stderr).
Usage: torch_vgg.py [threads (2)] [rounds (3)] [workload ...]
"""
import sys

import torch
import torch.nn as nn

from torch_common import median_rate

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


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
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    best = 0.0
    for fmt in (torch.contiguous_format, torch.channels_last):
        model = vggface().eval().to(memory_format=fmt)
        x = torch.randn(8, 3, 224, 224).to(memory_format=fmt)

        def infer():
            with torch.inference_mode():
                model(x)
        rate = median_rate(infer, 8, ROUNDS, 1)
        print(f"torch_vgg: {fmt} {rate:.3f} images/s", file=sys.stderr)
        best = max(best, rate)
    print(f"vgg16_infer {best:.3f}", flush=True)


if __name__ == "__main__":
    main()
