#!/usr/bin/env python3
"""Convert a VGGFace checkpoint (Keras .h5 or PyTorch .pth) into the .npz that siamese loads.

The .npz holds float32 arrays named like Keras' layers: conv1_1/kernel (3, 3, in, out: HWIO),
conv1_1/bias, ..., conv5_3/*, fc6/kernel (25088, 4096: rows in height, width, channel order),
fc7/*, fc8/*. The first convolution expects BGR input with the VGGFace means subtracted (what
siamese::vggface_preprocess produces), as the original Caffe model and keras-vggface do.

  Keras:   keras-vggface's rcmalli_vggface_tf_vgg16.h5 (or _notop), saved by model.save_weights or
           model.save: kernels are already HWIO; the 'th' (Theano) files are refused.
  PyTorch: a state dict (or a pickled model) whose keys are conv1_1.weight ... fc8.bias (e.g. the
           vgg_face_dag.pth conversion of the authors' MatConvNet model) or torchvision's VGG16
           layout features.N.* / classifier.N.*. Kernels OIHW become HWIO; fc6's columns are
           reordered from PyTorch's channel-first flattening to channels-last. Those models take
           RGB input, so the input channels of conv1_1 are reversed (--input-order rgb, the default
           for PyTorch) to take BGR like the rest of the library.

Usage: convert_vggface.py INPUT OUTPUT.npz [--input-order rgb|bgr] [--no-top]
"""
import argparse
import sys

import numpy as np

CONV = ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1', 'conv3_2', 'conv3_3',
        'conv4_1', 'conv4_2', 'conv4_3', 'conv5_1', 'conv5_2', 'conv5_3']
FC = ['fc6', 'fc7', 'fc8']


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
        for layer in layers:
            for w in attr_list(root[layer], 'weight_names'):
                leaf = w.split('/')[-1].split(':')[0]
                out['%s/%s' % (layer, leaf)] = np.asarray(root[layer][w], dtype=np.float32)
    k = out.get('conv1_1/kernel')
    if k is None:
        fail('%s: no conv1_1 layer: not a VGGFace (VGG16) file' % path)
    if k.ndim != 4 or k.shape[:3] != (3, 3, 3):
        fail('%s: conv1_1/kernel has shape %s, expected (3, 3, 3, filters) (a Theano-ordered file?)' % (path, k.shape))
    return out


def read_torch(path):
    """Arrays in Keras naming and layout from a PyTorch VGGFace state dict."""
    import torch

    obj = torch.load(path, map_location='cpu')
    state = obj.state_dict() if hasattr(obj, 'state_dict') else obj
    if 'state_dict' in state and not any(k.endswith('.weight') for k in state):
        state = state['state_dict']
    state = {k.replace('module.', '', 1): v.detach().cpu().numpy().astype(np.float64) for k, v in state.items()}
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


def convert(src, dst, input_order=None, top=True):
    if src.endswith(('.h5', '.hdf5')):
        kind = 'keras'
    elif src.endswith(('.pth', '.pt', '.pkl', '.bin')):
        kind = 'torch'
    else:
        fail('%s: unknown checkpoint kind: expected .h5/.hdf5 (Keras) or .pth/.pt (PyTorch)' % src)
    arrays = read_keras(src) if kind == 'keras' else read_torch(src)
    order = input_order or ('rgb' if kind == 'torch' else 'bgr')
    if order == 'rgb':  # the library feeds BGR: reverse conv1_1's input channels
        arrays['conv1_1/kernel'] = arrays['conv1_1/kernel'][:, :, ::-1, :]
    if not top:
        arrays = {k: v for k, v in arrays.items() if not k.startswith('fc')}
    arrays = {k: np.ascontiguousarray(v, dtype='<f4') for k, v in arrays.items()}
    np.savez(dst, **arrays)
    return arrays


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='Keras .h5 or PyTorch .pth/.pt checkpoint')
    p.add_argument('output', help='the .npz to write')
    p.add_argument('--input-order', choices=['rgb', 'bgr'],
                   help='channel order the checkpoint expects (default: bgr for Keras, rgb for PyTorch)')
    p.add_argument('--no-top', action='store_true', help='leave out fc6, fc7, fc8 (the encoder needs none)')
    a = p.parse_args()
    arrays = convert(a.input, a.output, a.input_order, not a.no_top)
    total = sum(v.size for v in arrays.values())
    print('%s: %d arrays, %d parameters' % (a.output, len(arrays), total))


if __name__ == '__main__':
    main()
