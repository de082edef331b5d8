#!/usr/bin/env python3
"""Writes tests/zoo/data/tiny_vggface_torch.npz: a golden test of the PyTorch -> siamese conversion.

A VGG16-shaped network with tiny widths (2, 3, 4, 4, 5 filters per block; fc 6, 6, 7) at 64x64
input, named as vgg_face_dag.pth names its layers, with random weights. It is saved as a PyTorch
state dict, converted by convert_vggface.py (OIHW -> HWIO, fc6 reordered, RGB -> BGR), and stored
with PyTorch's own outputs for two images whose pixels follow a formula the C++ test recomputes:
golden/embedding (per-channel max and mean of pool5) and golden/logits (fc8). Run with Debian's
python3-torch: /usr/bin/python3 scripts/make_vggface_golden.py
"""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_vggface  # noqa: E402

WIDTHS = [2, 3, 4, 4, 5]
BLOCKS = [2, 2, 3, 3, 3]
FC, CLASSES, SIZE = 6, 7, 64
RGB_MEAN = [129.1863, 104.7624, 93.5940]


def pixels(n):
    """Image i, row y, column x, channel c (RGB): the formula the C++ test uses."""
    i, y, x, c = np.meshgrid(np.arange(n), np.arange(SIZE), np.arange(SIZE), np.arange(3), indexing='ij')
    return ((i * 7 + y * 3 + x * 5 + c * 11 + (x * y) % 13) % 256).astype(np.float32)


def main():
    torch.manual_seed(7)
    state, cin = {}, 3
    for b, (w, reps) in enumerate(zip(WIDTHS, BLOCKS)):
        for r in range(reps):
            name = 'conv%d_%d' % (b + 1, r + 1)
            state[name + '.weight'] = torch.randn(w, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
            state[name + '.bias'] = torch.randn(w) * 0.1
            cin = w
    side = SIZE // 32
    for name, fan_in, units in [('fc6', cin * side * side, FC), ('fc7', FC, FC), ('fc8', FC, CLASSES)]:
        state[name + '.weight'] = torch.randn(units, fan_in) * (2.0 / fan_in) ** 0.5
        state[name + '.bias'] = torch.randn(units) * 0.1

    rgb = pixels(2)
    x = torch.from_numpy(rgb - np.array(RGB_MEAN, dtype=np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        for b, reps in enumerate(BLOCKS):
            for r in range(reps):
                name = 'conv%d_%d' % (b + 1, r + 1)
                x = F.relu(F.conv2d(x, state[name + '.weight'], state[name + '.bias'], padding=1))
            x = F.max_pool2d(x, 2)
        embedding = torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)
        h = x.flatten(1)  # channel-first flattening, as PyTorch's VGG does
        h = F.relu(F.linear(h, state['fc6.weight'], state['fc6.bias']))
        h = F.relu(F.linear(h, state['fc7.weight'], state['fc7.bias']))
        logits = F.linear(h, state['fc8.weight'], state['fc8.bias'])

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'zoo', 'data',
                       'tiny_vggface_torch.npz')
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, 'tiny.pth')
        torch.save(state, pth)
        arrays = convert_vggface.convert(pth, os.path.join(tmp, 'converted.npz'))
    arrays['golden/embedding'] = embedding.numpy().astype('<f4')
    arrays['golden/logits'] = logits.numpy().astype('<f4')
    np.savez_compressed(out, **arrays)
    print('%s: %d arrays' % (os.path.normpath(out), len(arrays)))


if __name__ == '__main__':
    main()
