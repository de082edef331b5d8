#!/usr/bin/env python3
"""Writes the golden files of the VGGFace2 ResNet-50 (keras-vggface's RESNET50) at reduced widths.

Run once (the outputs are committed); it re-runs itself in the peers' virtual environment (scripts/peers_venv,
created once: PyTorch, h5py, numpy):
    python3 scripts/make_resnet_golden.py

The network is benchmarks/torch_resnet50.py's ResNet50 (torchvision's attribute names, keras-vggface's
topology: TensorFlow 'same' padding of the 7x7 stride-2 stem done with F.pad, BatchNorm epsilon 1e-3, 3x3/2
max pooling without padding, the stride of a stage's first block in its 1x1 reduce convolution, projection
shortcuts in the first block of each stage, no convolution bias, embedding = [global max pool, global average
pool]) with the real block counts 3, 4, 6, 3 but small widths: stem 8 filters, bottlenecks 4, 8, 16, 32
(outputs 16, 32, 64, 128; embedding 256). Seeded random weights: convolutions N(0, 2 / fan_in), BatchNorm
gamma U(0.5, 1.5), beta N(0, 0.1), moving mean N(0, 0.1), moving variance U(0.5, 1.5).

Writes into tests/zoo/data/:
  resnet50_small.npz        the state dict converted by `scripts/convert_vggface.py --model resnet50
                            --input-order bgr` (conv1/7x7_s2/kernel, conv2_1_1x1_reduce/kernel,
                            conv2_1_1x1_reduce/bn/gamma, ... : HWIO kernels, float32), and
                            input         (2, 64, 64, 3)  NHWC, N(0, 1), fed as it is (no preprocessing)
                            output_eval   (2, 256)  the embedding in inference mode (BatchNorm: moving statistics)
                            output_train  (2, 256)  the embedding in training mode (BatchNorm: the batch's mean
                                                    and biased variance over the 2 x H x W positions)
                            computed in float64 from the float32 weights and input, then rounded to float32.
  resnet50_small_keras.h5   the same weights as keras-vggface's Keras 2 model.save_weights lays them out
                            (root attributes layer_names, backend, keras_version; a group per layer, weightless
                            ones included, with its weight_names attribute, e.g. conv2_1_1x1_reduce/bn/gamma:0;
                            a layer or weight name holding '/' is a path of nested groups, so the BatchNorm
                            layer conv1/7x7_s2/bn is the group bn inside conv1/7x7_s2 and its gamma the dataset
                            conv1/7x7_s2/bn/conv1/7x7_s2/bn/gamma:0), float32, uncompressed, in HDF5's newer
                            format (compact groups) to keep the file small.
The script checks that the converter reads the .h5 back to the same arrays, that a NumPy NHWC implementation
reading the .npz computes the same outputs as PyTorch, and that the real widths count 23,561,152 parameters.
"""
import os
import subprocess
import sys
import tempfile

import peers

peers.reexec_in_venv()

import h5py  # noqa: E402  (from the venv)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

sys.path.insert(0, os.path.join(peers.ROOT, 'benchmarks'))
sys.path.insert(0, os.path.join(peers.ROOT, 'scripts'))
import convert_vggface  # noqa: E402
from torch_resnet50 import BN_EPS, ResNet50, keras_param_count, tf_same_padding  # noqa: E402

OUT = os.path.join(peers.ROOT, 'tests', 'zoo', 'data')
STEM, WIDTHS, BLOCKS = 8, (4, 8, 16, 32), (3, 4, 6, 3)
BATCH, SIZE = 2, 64
REAL_PARAMS = 23561152


def seeded_model():
    model = ResNet50(STEM, WIDTHS, BLOCKS)
    g = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model


def torch_outputs(model, x):
    """(eval, train) embeddings in float64 of a copy of model."""
    m = ResNet50(STEM, WIDTHS, BLOCKS)
    m.load_state_dict(model.state_dict())
    m = m.double()
    t = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2)
    with torch.no_grad():
        out_eval = m.eval()(t).numpy()
        out_train = m.train()(t).numpy()
    return out_eval, out_train


# ---- a second implementation: NumPy, NHWC, straight from the converted arrays (Keras names, HWIO) ----------
def np_conv(x, k, stride, same):
    kh, kw = k.shape[:2]
    if same:
        x = np.pad(x, ((0, 0), tf_same_padding(x.shape[1], kh, stride), tf_same_padding(x.shape[2], kw, stride),
                       (0, 0)))
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # N, OH, OW, C, KH, KW
    return np.einsum('nhwcij,ijco->nhwo', win, k, optimize=True)


def np_bn(x, a, name, train):
    if train:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    else:
        mean, var = a[name + '/bn/moving_mean'], a[name + '/bn/moving_variance']
    return (x - mean) / np.sqrt(var + BN_EPS) * a[name + '/bn/gamma'] + a[name + '/bn/beta']


def np_encoder(a, x, train):
    a = {k: v.astype(np.float64) for k, v in a.items()}
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = relu(np_bn(np_conv(x.astype(np.float64), a['conv1/7x7_s2/kernel'], 2, True), a, 'conv1/7x7_s2', train))
    x = sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(4, 5))
    for s, count in enumerate(BLOCKS):
        for b in range(count):
            k = 'conv%d_%d' % (s + 2, b + 1)
            stride = 2 if (b == 0 and s > 0) else 1
            y = relu(np_bn(np_conv(x, a[k + '_1x1_reduce/kernel'], stride, False), a, k + '_1x1_reduce', train))
            y = relu(np_bn(np_conv(y, a[k + '_3x3/kernel'], 1, True), a, k + '_3x3', train))
            y = np_bn(np_conv(y, a[k + '_1x1_increase/kernel'], 1, False), a, k + '_1x1_increase', train)
            if b == 0:
                x = np_bn(np_conv(x, a[k + '_1x1_proj/kernel'], stride, False), a, k + '_1x1_proj', train)
            x = relu(y + x)
    return np.concatenate([x.max(axis=(1, 2)), x.mean(axis=(1, 2))], axis=1)


# ---- keras-vggface's Keras 2 weight file ---------------------------------------------------------------------
def keras_layers():
    """(layer name, [weight names]) in the order of keras-vggface's RESNET50 model.layers (no top)."""
    layers, act, add = [('input_1', [])], [0], [0]

    def conv(name):
        layers.append((name, [name + '/kernel:0']))

    def bn(name):
        layers.append((name + '/bn', ['%s/bn/%s:0' % (name, v) for v in convert_vggface.BN_KERAS]))

    def relu():
        act[0] += 1
        layers.append(('activation_%d' % act[0], []))

    conv('conv1/7x7_s2'), bn('conv1/7x7_s2'), relu()
    layers.append(('max_pooling2d_1', []))
    for s, count in enumerate(BLOCKS):
        for b in range(count):
            k = 'conv%d_%d' % (s + 2, b + 1)
            conv(k + '_1x1_reduce'), bn(k + '_1x1_reduce'), relu()
            conv(k + '_3x3'), bn(k + '_3x3'), relu()
            conv(k + '_1x1_increase')
            if b == 0:  # Keras orders the two branches' layers by depth
                conv(k + '_1x1_proj'), bn(k + '_1x1_increase'), bn(k + '_1x1_proj')
            else:
                bn(k + '_1x1_increase')
            add[0] += 1
            layers.append(('add_%d' % add[0], []))
            relu()
    layers.append(('avg_pool', []))
    return layers


def write_keras_h5(path, arrays):
    layers = keras_layers()
    # Keras 2 wrote h5py's default format (superblock 0, symbol-table groups: about 1.3 KB per group, 838 KB
    # here); the newer format with compact groups holds the same names, attributes and datasets in 544 KB.
    # tests/zoo/data/keras_weights.h5 covers the older format.
    with h5py.File(path, 'w', libver='latest') as f:
        f.attrs['layer_names'] = np.array([n.encode('utf8') for n, _ in layers])
        f.attrs['backend'] = np.bytes_(b'tensorflow')
        f.attrs['keras_version'] = np.bytes_(b'2.2.4')
        for name, weights in layers:
            g = f.require_group(name)  # 'conv1/7x7_s2/bn' lands inside the group of 'conv1/7x7_s2'
            g.attrs['weight_names'] = np.array([w.encode('utf8') for w in weights]) if weights else np.zeros(0)
            for w in weights:
                g.create_dataset(w, data=arrays[w.split(':')[0]].astype('<f4'))
    return layers


def main():
    real = keras_param_count(ResNet50())
    print('real widths: %d parameters (BatchNorm counted with its moving statistics)' % real)
    assert real == REAL_PARAMS, 'keras-vggface RESNET50 without top has %d parameters' % REAL_PARAMS

    model = seeded_model()
    x = np.random.default_rng(2024).standard_normal((BATCH, SIZE, SIZE, 3)).astype(np.float32)
    out_eval, out_train = torch_outputs(model, x)

    with tempfile.TemporaryDirectory() as tmp:
        pth, npz = os.path.join(tmp, 'resnet50_small.pth'), os.path.join(tmp, 'converted.npz')
        torch.save(model.state_dict(), pth)
        subprocess.check_call([sys.executable, os.path.join(peers.ROOT, 'scripts', 'convert_vggface.py'), pth, npz,
                               '--model', 'resnet50', '--input-order', 'bgr'])
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}

    # The converted arrays are the state dict's, transposed and renamed.
    state = model.state_dict()
    for name, conv, bn in convert_vggface.resnet_layers():
        assert np.array_equal(arrays[name + '/kernel'], state[conv + '.weight'].numpy().transpose(2, 3, 1, 0)), name
        for tk, kk in zip(convert_vggface.BN_TORCH, convert_vggface.BN_KERAS):
            assert np.array_equal(arrays['%s/bn/%s' % (name, kk)], state['%s.%s' % (bn, tk)].numpy()), name
    assert len(arrays) == 53 * 5, len(arrays)

    # A NumPy implementation reading the converted arrays computes what PyTorch computed.
    for mode, ref in (('eval', out_eval), ('train', out_train)):
        mine = np_encoder(arrays, x, mode == 'train')
        err = np.abs(mine - ref).max() / np.abs(ref).max()
        print('output_%s: |max| %.4g, NumPy vs PyTorch (float64) relative difference %.2g'
              % (mode, np.abs(ref).max(), err))
        assert err < 1e-10, mode
    # What float32 arithmetic costs (a hint for the C++ test's tolerance).
    with torch.no_grad():
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        for mode, ref in (('eval', out_eval), ('train', out_train)):
            m = ResNet50(STEM, WIDTHS, BLOCKS)
            m.load_state_dict(model.state_dict())
            y = (m.eval() if mode == 'eval' else m.train())(t).numpy()
            print('output_%s: PyTorch float32 vs float64: max |difference| %.2g, relative to |max| %.2g'
                  % (mode, np.abs(y - ref).max(), np.abs(y - ref).max() / np.abs(ref).max()))

    os.makedirs(OUT, exist_ok=True)
    h5 = os.path.join(OUT, 'resnet50_small_keras.h5')
    layers = write_keras_h5(h5, arrays)
    back = convert_vggface.read_keras(h5)
    convert_vggface.check_resnet(h5, back)
    assert sorted(back) == sorted(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)

    golden = dict(arrays)
    golden['input'] = x
    golden['output_eval'] = out_eval.astype(np.float32)
    golden['output_train'] = out_train.astype(np.float32)
    npz = os.path.join(OUT, 'resnet50_small.npz')
    np.savez_compressed(npz, **{k: np.ascontiguousarray(v, dtype='<f4') for k, v in golden.items()})
    count = sum(v.size for v in arrays.values())
    print('%s: %d arrays (%d weights), %d bytes' % (os.path.relpath(npz, peers.ROOT), len(golden), count,
                                                   os.path.getsize(npz)))
    print('%s: %d layers, %d with weights, %d bytes' % (os.path.relpath(h5, peers.ROOT), len(layers),
                                                       sum(1 for _, w in layers if w), os.path.getsize(h5)))


if __name__ == '__main__':
    main()
