#!/usr/bin/env python3
"""PyTorch counterparts of the ResNet-50 benchmarks: keras-vggface's VGGFace2 ResNet-50 encoder.

The network is keras-vggface's RESNET50 without its top, as the library's zoo builds it: conv1/7x7_s2 (64
filters, stride 2, TensorFlow 'same' padding: asymmetric, more after than before, for an even input),
BatchNorm (epsilon 1e-3), ReLU, 3x3 max pooling with stride 2 and no padding, then stages of 3, 4, 6, 3
bottleneck blocks of widths 64, 128, 256, 512 (outputs 4x). The stride of a stage's first block is in its
first 1x1 convolution (the Caffe layout, not torchvision's v1.5), the first block of each stage has a
projection shortcut (1x1 convolution and BatchNorm), no convolution has a bias. The embedding is global max
pooling and global average pooling, concatenated in that order (4096 wide). Module and attribute names
follow torchvision (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...), so that a state dict of
ResNet50 is what scripts/convert_vggface.py --model resnet50 reads; scripts/make_resnet_golden.py builds
its golden file from this module at reduced widths.

Workloads, each printed as "<name> <items per second>" (the median of the timed rounds after a warm-up),
the faster of PyTorch's two memory formats (NCHW, channels_last):
  resnet50_infer  images/s: eval mode under torch.inference_mode, batches of 8 images at 224x224x3.
  resnet50_train  pairs/s: a Siamese training step on 8 pairs at 112x112x3: the encoder runs both sides as
                  one batch of 16 (BatchNorm in training mode, batch statistics over the 16), the head
                  (a-b)^2, a^2-b^2, cos(a,b) -> Dense 100 ReLU -> Dropout 0.1 -> Dense 1, BCE on the logit,
                  Adam (lr 1e-5, epsilon 1e-7 as Keras), every layer trainable.
The rate of each memory format goes to stderr. Run as the C++ benchmarks run the other torch_*.py scripts:
the Python of scripts/peers_venv (PyTorch 2.x from PyPI).
Usage: torch_resnet50.py [threads (2)] [rounds (7)] [workload ...]
"""
import sys

import torch
import torch.nn.functional as F
from torch import nn

from torch_common import median_rate, pair_features

BN_EPS = 1e-3        # Keras' BatchNormalization default (Caffe's original model used 1e-5)
BN_MOMENTUM = 0.01   # Keras' momentum 0.99 for the moving averages, in PyTorch's convention


def tf_same_padding(size, kernel, stride):
    """(before, after) of TensorFlow's 'same' padding along one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class Bottleneck(nn.Module):
    """conv{s}_{b}: 1x1_reduce (stride), 3x3 (same), 1x1_increase, each with its BatchNorm; 1x1_proj shortcut."""

    def __init__(self, cin, width, stride, project):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, stride, bias=False)               # _1x1_reduce
        self.bn1 = batch_norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, padding=1, bias=False)       # _3x3 ('same' at stride 1)
        self.bn2 = batch_norm(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)                 # _1x1_increase
        self.bn3 = batch_norm(4 * width)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False), batch_norm(4 * width))
                           if project else None)                                # _1x1_proj

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        y = self.bn3(self.conv3(y))
        y += x if self.downsample is None else self.downsample(x)
        return F.relu(y, inplace=True)


class ResNet50(nn.Module):
    """keras-vggface's RESNET50 without top; forward returns [global max pool, global average pool]."""

    def __init__(self, stem=64, widths=(64, 128, 256, 512), blocks=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, bias=False)  # padded explicitly in forward ('same')
        self.bn1 = batch_norm(stem)
        cin = stem
        for s, (width, count) in enumerate(zip(widths, blocks)):
            layers = []
            for b in range(count):
                stride = 2 if (b == 0 and s > 0) else 1
                layers.append(Bottleneck(cin, width, stride, project=(b == 0)))
                cin = 4 * width
            setattr(self, 'layer%d' % (s + 1), nn.Sequential(*layers))
        self.width = 2 * cin

    def forward(self, x):
        top, bottom = tf_same_padding(x.shape[2], 7, 2)
        left, right = tf_same_padding(x.shape[3], 7, 2)
        x = self.conv1(F.pad(x, (left, right, top, bottom)))
        x = F.max_pool2d(F.relu(self.bn1(x), inplace=True), 3, 2)  # 'valid': no padding, floor
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)


def keras_param_count(model):
    """Parameters as Keras counts them: weights plus BatchNorm's moving mean and variance (4 per channel)."""
    moving = sum(b.numel() for n, b in model.named_buffers() if n.endswith(('running_mean', 'running_var')))
    return sum(p.numel() for p in model.parameters()) + moving


class SiameseResNet50(nn.Module):
    """Head SqDiff, DiffSq, Cosine, then Dense 100 ReLU, Dropout 0.1, Dense 1 (a logit)."""

    def __init__(self):
        super().__init__()
        self.encoder = ResNet50()
        self.classifier = nn.Sequential(nn.Linear(2 * self.encoder.width + 1, 100), nn.ReLU(), nn.Dropout(0.1),
                                        nn.Linear(100, 1))

    def forward(self, a, b):
        e = self.encoder(torch.cat([a, b]))  # both sides as one batch of 2n, as the C++ model runs them
        return self.classifier(pair_features(e[:a.shape[0]], e[a.shape[0]:])).squeeze(1)


def layouts():
    return [('nchw', torch.contiguous_format), ('channels_last', torch.channels_last)]


def infer_rate(rounds, batch=8, size=224):
    rates = {}
    for layout, fmt in layouts():
        torch.manual_seed(0)
        model = ResNet50().eval().to(memory_format=fmt)
        x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)

        def step():
            with torch.inference_mode():
                model(x)

        rates[layout] = median_rate(step, batch, rounds, 1)
    return rates


def train_rate(rounds, pairs=8, size=112):
    rates = {}
    for layout, fmt in layouts():
        torch.manual_seed(1)
        model = SiameseResNet50().train().to(memory_format=fmt)
        a = torch.randn(pairs, 3, size, size).contiguous(memory_format=fmt)
        b = torch.randn(pairs, 3, size, size).contiguous(memory_format=fmt)
        labels = (torch.arange(pairs) % 2).float()
        opt = torch.optim.Adam(model.parameters(), lr=1e-5, eps=1e-7)
        bce = nn.BCEWithLogitsLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            bce(model(a, b), labels).backward()
            opt.step()

        rates[layout] = median_rate(step, pairs, rounds, 1)
    return rates


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    wanted = sys.argv[3:] or ['resnet50_infer', 'resnet50_train']
    torch.set_num_threads(threads)
    count = keras_param_count(ResNet50())
    assert count == 23561152, count  # keras-vggface's RESNET50 without top
    for name, rate in (('resnet50_infer', infer_rate), ('resnet50_train', train_rate)):
        if name in wanted:
            rates = rate(rounds)
            print('%s: %s' % (name, ', '.join('%s %.3f' % r for r in rates.items())), file=sys.stderr, flush=True)
            print('%s %.3f' % (name, max(rates.values())), flush=True)


if __name__ == '__main__':
    main()
