#!/usr/bin/env python3
"""Convert a VGGFace (VGG16) or VGGFace2 (ResNet-50) checkpoint, Keras .h5 or PyTorch .pth, into the .npz
that siamese loads.

--model vgg16 (the default): the .npz holds float32 arrays named like Keras' layers: conv1_1/kernel
(3, 3, in, out: HWIO), conv1_1/bias, ..., conv5_3/*, fc6/kernel (25088, 4096: rows in height, width, channel
order), fc7/*, fc8/*. The first convolution expects BGR input with the VGGFace means subtracted (what
siamese::vggface_preprocess produces), as the original Caffe model and keras-vggface do.

  Keras:   keras-vggface's rcmalli_vggface_tf_vgg16.h5 (or _notop), saved by model.save_weights or
           model.save: kernels are already HWIO; the 'th' (Theano) files are refused.
  PyTorch: a state dict (or a pickled model) whose keys are conv1_1.weight ... fc8.bias (e.g. the
           vgg_face_dag.pth conversion of the authors' MatConvNet model) or torchvision's VGG16
           layout features.N.* / classifier.N.*. Kernels OIHW become HWIO; fc6's columns are
           reordered from PyTorch's channel-first flattening to channels-last. Those models take
           RGB input, so the input channels of conv1_1 are reversed (--input-order rgb, the default
           for PyTorch) to take BGR like the rest of the library.

--model resnet50: keras-vggface's RESNET50 (VGGFace2). The .npz holds, named after keras-vggface's layers,
conv1/7x7_s2/kernel (7, 7, 3, 64: HWIO) and, for stage s = 2..5 and block b (3, 4, 6, 3 blocks),
conv{s}_{b}_1x1_reduce/kernel, conv{s}_{b}_3x3/kernel, conv{s}_{b}_1x1_increase/kernel and, for b = 1,
conv{s}_{b}_1x1_proj/kernel (no biases); after each convolution's name <conv>/bn/gamma, <conv>/bn/beta,
<conv>/bn/moving_mean, <conv>/bn/moving_variance (its BatchNormalization layer, named <conv>/bn in Keras);
with the top, classifier/kernel (2048, classes) and classifier/bias. The widths are read from the file
(every other shape must then agree; the golden test's reduced widths convert like the real ones). The
first convolution of keras-vggface's file expects BGR input minus the VGGFace2 means (B 91.4953,
G 103.8827, R 131.0912: keras-vggface's preprocess_input, version 2). The library runs keras-vggface's
topology: TensorFlow 'same' padding of the 7x7 stride-2 stem (2 before, 3 after at 224), max pooling
rounded down, BatchNorm epsilon 1e-3. PyTorch ports of the Caffe model pad the stem 3 on each side, round
their max pooling up and use epsilon 1e-5: with the same weights, their outputs differ a little from the
library's.
  Keras:   rcmalli_vggface_tf_resnet50.h5 or _notop.h5 (layer names holding '/' are nested HDF5 groups).
  PyTorch: a state dict with torchvision's names: conv1.weight, bn1.{weight,bias,running_mean,running_var},
           layer{1..4}.{i}.conv{1,2,3}.weight, .bn{1,2,3}.*, .downsample.0.weight, .downsample.1.*, fc.*
           (num_batches_tracked is ignored), as a torch.save file or a plain pickle of numpy arrays. The
           stride of a stage's first block must be in conv1 (the Caffe layout of VGGFace2; torchvision's own
           ResNet-50 strides in conv2 and has the same shapes: its weights would convert but compute something
           else). --input-order keeps its meaning; VGGFace2's PyTorch ports converted from Caffe mostly take
           BGR input with the means subtracted already: pass --input-order bgr for those.
A file whose arrays do not match the model (a missing array, a wrong shape, an unexpected name) is refused
with a message that names the array.

Usage: convert_vggface.py INPUT OUTPUT.npz [--model vgg16|resnet50] [--input-order rgb|bgr] [--no-top]
"""
import argparse
import sys

import numpy as np

CONV = ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1', 'conv3_2', 'conv3_3',
        'conv4_1', 'conv4_2', 'conv4_3', 'conv5_1', 'conv5_2', 'conv5_3']
FC = ['fc6', 'fc7', 'fc8']

RESNET_BLOCKS = (3, 4, 6, 3)
RESNET_STEM = 'conv1/7x7_s2'
BN_KERAS = ('gamma', 'beta', 'moving_mean', 'moving_variance')
BN_TORCH = ('weight', 'bias', 'running_mean', 'running_var')


def fail(msg):
    sys.exit('convert_vggface: ' + msg)


def read_keras(path):
    """Arrays 'layer/kernel', 'layer/bias' from a Keras HDF5 weight (or whole-model) file."""
    import h5py

    def attr_list(group, name):
        if name in group.attrs:
            values = list(group.attrs[name])
        else:  # Keras splits long lists over name0, name1, ...
            values, chunk = [], 0
            while '%s%d' % (name, chunk) in group.attrs:
                values += list(group.attrs['%s%d' % (name, chunk)])
                chunk += 1
        return [v.decode('utf8') if isinstance(v, bytes) else str(v) for v in values]

    out = {}
    with h5py.File(path, 'r') as f:
        root = f['model_weights'] if 'model_weights' in f else f
        layers = attr_list(root, 'layer_names')
        if not layers:
            fail('%s: not a Keras weight file (no layer_names attribute)' % path)
        for layer in layers:  # a name holding '/' (conv1/7x7_s2/bn) is a path of nested groups, as h5py reads it
            if layer not in root:
                fail('%s: layer %s is listed in layer_names but has no group' % (path, layer))
            for w in attr_list(root[layer], 'weight_names'):
                if w not in root[layer]:
                    fail('%s: layer %s lists weight %s, which the file does not hold' % (path, layer, w))
                leaf = w.split('/')[-1].split(':')[0]
                out['%s/%s' % (layer, leaf)] = np.asarray(root[layer][w], dtype=np.float32)
    return out


def check_vgg_keras(path, out):
    k = out.get('conv1_1/kernel')
    if k is None:
        hint = ' (a ResNet-50 file: pass --model resnet50)' if RESNET_STEM + '/kernel' in out else ''
        fail('%s: no conv1_1 layer: not a VGGFace (VGG16) file%s' % (path, hint))
    if k.ndim != 4 or k.shape[:3] != (3, 3, 3):
        fail('%s: conv1_1/kernel has shape %s, expected (3, 3, 3, filters) (a Theano-ordered file?)' % (path, k.shape))


def load_state(path):
    """A PyTorch checkpoint as {name: float64 array}: a state dict, a pickled model, or a pickle of numpy arrays."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # a plain pickle makes torch.load warn before it fails
            warnings.simplefilter('ignore')
            obj = torch.load(path, map_location='cpu')
    except Exception as e:  # not a torch.save file: maybe a plain pickle (VGGFace2 ports ship their weights so)
        import pickle

        try:
            with open(path, 'rb') as f:
                obj = pickle.load(f, encoding='latin1')
        except Exception:
            fail('%s: cannot read it as a PyTorch checkpoint (%s)' % (path, str(e).strip().splitlines()[0]))
    state = obj.state_dict() if hasattr(obj, 'state_dict') else obj
    if not isinstance(state, dict):
        fail('%s: holds a %s, not a state dict' % (path, type(state).__name__))
    if 'state_dict' in state and not any(k.endswith('.weight') for k in state):
        state = state['state_dict']

    def array(v):
        v = v.detach().cpu().numpy() if hasattr(v, 'detach') else np.asarray(v)
        return v.astype(np.float64)

    return {k.replace('module.', '', 1): array(v) for k, v in state.items()}


def read_torch(path, state=None):
    """Arrays in Keras naming and layout from a PyTorch VGGFace state dict."""
    state = load_state(path) if state is None else state
    if 'layer1.0.conv1.weight' in state:
        fail('%s: a ResNet state dict (layer1.0.conv1.weight): pass --model resnet50' % path)
    names = CONV + FC
    if 'conv1_1.weight' in state:
        pairs = [(n, state.get(n + '.weight'), state.get(n + '.bias')) for n in names]
    else:  # torchvision layout: the weighted layers in order
        order = sorted({k.rsplit('.', 1)[0] for k in state if k.endswith('.weight')},
                       key=lambda k: (not k.startswith('features'), int(k.split('.')[1])))
        pairs = [(n, state[k + '.weight'], state[k + '.bias']) for n, k in zip(names, order)]
    out = {}
    for name, w, b in pairs:
        if w is None:
            continue
        if w.ndim == 4:
            w = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        else:
            w = w.T  # (out, in) -> (in, out)
        out[name + '/kernel'] = w
        out[name + '/bias'] = b
    if 'conv1_1/kernel' not in out:
        fail('%s: no conv1_1 weights found (keys: %s ...)' % (path, ', '.join(list(state)[:5])))
    if 'fc6/kernel' in out:  # rows flattened (C, H, W) by PyTorch -> (H, W, C) as Flatten here
        c = out['conv5_3/kernel'].shape[3]
        rows, units = out['fc6/kernel'].shape
        side = int(round((rows // c) ** 0.5))
        if side * side * c != rows:
            fail('fc6 has %d inputs, not a square map of %d channels' % (rows, c))
        out['fc6/kernel'] = (out['fc6/kernel'].reshape(c, side, side, units)
                             .transpose(1, 2, 0, 3).reshape(rows, units))
    return out


def resnet_layers():
    """(Keras convolution name, PyTorch convolution, PyTorch BatchNorm) of ResNet-50, in order."""
    out = [(RESNET_STEM, 'conv1', 'bn1')]
    for s, count in enumerate(RESNET_BLOCKS):
        for b in range(count):
            k, t = 'conv%d_%d' % (s + 2, b + 1), 'layer%d.%d.' % (s + 1, b)
            out += [(k + '_1x1_reduce', t + 'conv1', t + 'bn1'), (k + '_3x3', t + 'conv2', t + 'bn2'),
                    (k + '_1x1_increase', t + 'conv3', t + 'bn3')]
            if b == 0:
                out.append((k + '_1x1_proj', t + 'downsample.0', t + 'downsample.1'))
    return out


def read_torch_resnet(path, state):
    """ResNet-50 arrays in keras-vggface's naming and layout, each with the PyTorch key it came from."""
    out, source, used = {}, {}, set()

    def take(key, name, value):
        out[name], source[name] = value, key
        used.add(key)

    def get(key, name):
        if key not in state:
            fail('%s: missing %s (for %s)' % (path, key, name))
        return state[key]

    for name, conv, bn in resnet_layers():
        w = get(conv + '.weight', name + '/kernel')
        if w.ndim != 4:
            fail('%s: %s.weight has shape %s, expected a 4-d convolution kernel (out, in, kh, kw)'
                 % (path, conv, w.shape))
        take(conv + '.weight', name + '/kernel', w.transpose(2, 3, 1, 0))  # OIHW -> HWIO
        for tk, kk in zip(BN_TORCH, BN_KERAS):
            take('%s.%s' % (bn, tk), '%s/bn/%s' % (name, kk), get('%s.%s' % (bn, tk), '%s/bn/%s' % (name, kk)))
    if 'fc.weight' in state:
        w = state['fc.weight']
        if w.ndim != 2:
            fail('%s: fc.weight has shape %s, expected (classes, features)' % (path, w.shape))
        take('fc.weight', 'classifier/kernel', w.T)
        take('fc.bias', 'classifier/bias', get('fc.bias', 'classifier/bias'))
    extra = sorted(k for k in state if k not in used and not k.endswith('num_batches_tracked'))
    if extra:
        fail('%s: unexpected array %s (%d not part of ResNet-50: %s)'
             % (path, extra[0], len(extra), ', '.join(extra[:5]) + (' ...' if len(extra) > 5 else '')))
    return out, source


def check_resnet(path, arrays, source=None):
    """Every array ResNet-50 needs, with the shapes the stem and the stages' widths in the file imply."""
    source = source or {}

    def named(name):
        return name + (' (from %s)' % source[name] if name in source else '')

    def width(name):
        a = arrays.get(name)
        if a is None:
            fail('%s: missing array %s: not a ResNet-50 (VGGFace2) file' % (path, name))
        if a.ndim != 4:
            fail('%s: array %s has shape %s, expected (kh, kw, in, out)' % (path, named(name), a.shape))
        return a.shape[3]

    stem = width(RESNET_STEM + '/kernel')
    widths = [width('conv%d_1_1x1_reduce/kernel' % (s + 2)) for s in range(len(RESNET_BLOCKS))]
    expected, cin = {}, stem

    def conv(name, k, i, o):
        expected[name + '/kernel'] = (k, k, i, o)
        for v in BN_KERAS:
            expected['%s/bn/%s' % (name, v)] = (o,)

    conv(RESNET_STEM, 7, 3, stem)
    for s, (w, count) in enumerate(zip(widths, RESNET_BLOCKS)):
        for b in range(count):
            k = 'conv%d_%d' % (s + 2, b + 1)
            conv(k + '_1x1_reduce', 1, cin, w)
            conv(k + '_3x3', 3, w, w)
            conv(k + '_1x1_increase', 1, w, 4 * w)
            if b == 0:
                conv(k + '_1x1_proj', 1, cin, 4 * w)
            cin = 4 * w
    if 'classifier/kernel' in arrays or 'classifier/bias' in arrays:
        classes = arrays.get('classifier/kernel', np.zeros((0, 0))).shape[-1]
        expected['classifier/kernel'] = (cin, classes)
        expected['classifier/bias'] = (classes,)
    for name, shape in expected.items():
        if name not in arrays:
            fail('%s: missing array %s' % (path, name))
        if arrays[name].shape != shape:
            fail('%s: array %s has shape %s, expected %s' % (path, named(name), arrays[name].shape, shape))
        if name.endswith('/moving_variance') and (arrays[name] < 0).any():
            fail('%s: array %s holds negative variances' % (path, named(name)))
    extra = sorted(set(arrays) - set(expected))
    if extra:
        fail('%s: unexpected array %s (%d not part of ResNet-50: %s)'
             % (path, named(extra[0]), len(extra), ', '.join(extra[:5]) + (' ...' if len(extra) > 5 else '')))


def convert(src, dst, input_order=None, top=True, model='vgg16'):
    if src.endswith(('.h5', '.hdf5')):
        kind = 'keras'
    elif src.endswith(('.pth', '.pt', '.pkl', '.bin')):
        kind = 'torch'
    else:
        fail('%s: unknown checkpoint kind: expected .h5/.hdf5 (Keras) or .pth/.pt/.pkl (PyTorch)' % src)
    if model not in ('vgg16', 'resnet50'):
        fail('unknown model %s: expected vgg16 or resnet50' % model)
    if model == 'vgg16':
        if kind == 'keras':
            arrays = read_keras(src)
            check_vgg_keras(src, arrays)
        else:
            arrays = read_torch(src)
        first = 'conv1_1/kernel'
    else:
        if kind == 'keras':
            arrays, source = read_keras(src), {}
        else:
            arrays, source = read_torch_resnet(src, load_state(src))
        check_resnet(src, arrays, source)
        first = RESNET_STEM + '/kernel'
    order = input_order or ('rgb' if kind == 'torch' else 'bgr')
    if order == 'rgb':  # the library feeds BGR: reverse the first convolution's input channels
        arrays[first] = arrays[first][:, :, ::-1, :]
    if not top:
        top_prefix = 'fc' if model == 'vgg16' else 'classifier/'
        arrays = {k: v for k, v in arrays.items() if not k.startswith(top_prefix)}
    arrays = {k: np.ascontiguousarray(v, dtype='<f4') for k, v in arrays.items()}
    np.savez(dst, **arrays)
    return arrays


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='Keras .h5 or PyTorch .pth/.pt checkpoint')
    p.add_argument('output', help='the .npz to write')
    p.add_argument('--model', choices=['vgg16', 'resnet50'], default='vgg16',
                   help='VGGFace (VGG16, the default) or VGGFace2 (ResNet-50)')
    p.add_argument('--input-order', choices=['rgb', 'bgr'],
                   help='channel order the checkpoint expects (default: bgr for Keras, rgb for PyTorch)')
    p.add_argument('--no-top', action='store_true',
                   help='leave out the classifier: fc6, fc7, fc8 (VGG16) or classifier (ResNet-50); the encoder '
                        'needs none')
    a = p.parse_args()
    if a.model == 'resnet50' and a.input_order is None and not a.input.endswith(('.h5', '.hdf5')):
        print('convert_vggface: assuming RGB input (the PyTorch default); VGGFace2 ports converted from Caffe '
              'mostly take BGR: then pass --input-order bgr', file=sys.stderr)
    arrays = convert(a.input, a.output, a.input_order, not a.no_top, a.model)
    total = sum(v.size for v in arrays.values())
    print('%s: %d arrays, %d parameters' % (a.output, len(arrays), total))


if __name__ == '__main__':
    main()
