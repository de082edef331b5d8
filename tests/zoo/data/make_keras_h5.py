#!/usr/bin/env python3
"""Writes keras_latest.h5 and keras_tiny.h5 for tests/zoo/test_hdf5_reader.cpp (and the fuzz seeds). keras_latest.h5 is a whole-model Keras weight file written by h5py with
libver='latest' (version 2 object headers, new-style groups), variable-length names, attributes that went dense,
and weights in the chunk indexes h5py uses for that format: extensible array (one unlimited dimension), v2 B-tree
(two), fixed array, single chunk; deflate, shuffle and fletcher32; float16, float32 and big-endian float64.
keras_tiny.h5: one layer, two compact weights, under 2 KB, a small seed for fuzzing.
Every weight holds v[j] = j / 8 - 1 in C order. Needs h5py and numpy (Debian: /usr/bin/python3 with python3-h5py)."""
import os
import sys

import h5py
import numpy as np


def values(shape, dtype):
    return (np.arange(int(np.prod(shape))) / 8 - 1).reshape(shape).astype(dtype)


def tiny(path):
    with h5py.File(path, 'w', libver='latest') as f:
        f.attrs['layer_names'] = np.array([b'fc'])
        g = f.create_group('fc')
        g.attrs['weight_names'] = np.array([b'fc/kernel:0', b'fc/bias:0'])
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        for name, shape in (('fc/kernel:0', (2, 3)), ('fc/bias:0', (3,))):
            v = values(shape, '<f4')
            lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
            lcpl.set_create_intermediate_group(True)
            d = h5py.h5d.create(g.id, name.encode(), h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple(shape), dcpl=dcpl, lcpl=lcpl)
            d.write(h5py.h5s.ALL, h5py.h5s.ALL, v)


def main(path):
    weights = {  # layer -> [(weight name, shape, dtype, dataset options)]
        'conv1_1': [('kernel:0', (3, 3, 2, 4), '<f4', dict(chunks=(3, 3, 1, 2), maxshape=(3, 3, 2, None),
                                                           compression='gzip', shuffle=True)),
                    ('bias:0', (4,), '<f2', dict(chunks=(2,), maxshape=(None,)))],
        'fc6': [('kernel:0', (6, 5), '>f8', dict(chunks=(4, 2), maxshape=(None, None), compression='gzip')),
                ('bias:0', (5,), '<f4', dict(chunks=(2,), fletcher32=True))],
        'fc7': [('kernel:0', (5, 3), '<f4', dict(chunks=(5, 3), compression='gzip')),
                ('bias:0', (3,), '<f4', dict())],
    }
    with h5py.File(path, 'w', libver='latest') as f:
        root = f.create_group('model_weights')
        root.attrs['layer_names'] = np.array(list(weights) + ['flatten'], dtype=h5py.string_dtype())
        for i in range(10):  # more attributes than a header keeps compact: they move to dense storage
            root.attrs['note%d' % i] = np.array(['attribute %d' % i], dtype=h5py.string_dtype())
        for layer, ws in weights.items():
            g = root.create_group(layer)
            g.attrs['weight_names'] = np.array(['%s/%s' % (layer, w[0]) for w in ws], dtype=h5py.string_dtype())
            for name, shape, dtype, opts in ws:
                g.create_dataset('%s/%s' % (layer, name), data=values(shape, dtype), **opts)
        root.create_group('flatten').attrs['weight_names'] = np.zeros((0,), 'f8')


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    main(os.path.join(out, 'keras_latest.h5'))
    tiny(os.path.join(out, 'keras_tiny.h5'))
