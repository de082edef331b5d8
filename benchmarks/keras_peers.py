"""Keras 3 (TensorFlow backend, tensorflow-cpu from PyPI) counterparts of the benchmark workloads.

The models are written as a Keras user would write them: the functional API, a shared encoder called on
each side, `compile` then `train_on_batch` for a training step (what `fit` runs per batch, XLA as Keras'
jit_compile="auto" decides) and `predict_on_batch` for inference. Layouts are Keras' own (NHWC).

Workloads (names as in the C++ benchmarks), each printed as "<name> <items per second>", the median of the
timed rounds after 3 warm-up calls:
  siamese_cnn_train, siamese_cnn_infer, triplet_cnn_train   bench_models: batches of 128 at 28x28x1
  siamese_lstm_train, siamese_lstm_infer                    bench_text: 128 pairs of 30 token ids
  vgg16_infer                                               bench_vgg: VGG16 with 2,622 classes, 8 images at 224x224x3
  resnet50_infer, resnet50_train                            bench_resnet50: keras.applications.ResNet50 without its
        top (its convolutions have biases and BatchNorm epsilon 1.001e-5; otherwise the topology of keras-vggface's),
        global max and average pooling concatenated; infer: 8 images at 224; train: 8 pairs at 112
Usage: keras_peers.py threads rounds workload... (run by the C++ benchmarks in the venv of scripts/keras_venv).
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from peer_timing import median_rate  # noqa: E402

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
WANTED = sys.argv[3:]
tf.config.threading.set_intra_op_parallelism_threads(THREADS)
tf.config.threading.set_inter_op_parallelism_threads(THREADS)
keras.utils.set_random_seed(1)
RNG = np.random.default_rng(1)


class PairFeatures(layers.Layer):
    """(a-b)^2, a^2-b^2 and cos(a,b), concatenated: the library's Head<SqDiff, DiffSq, Cosine>."""

    def call(self, ea, eb):
        na = ops.sqrt(ops.sum(ea * ea, axis=1, keepdims=True))
        nb = ops.sqrt(ops.sum(eb * eb, axis=1, keepdims=True))
        cos = ops.sum(ea * eb, axis=1, keepdims=True) / ops.maximum(na * nb, 1e-6)
        return ops.concatenate([ops.square(ea - eb), ea * ea - eb * eb, cos], axis=1)


def pair_model(encoder, shape, hidden, dropout, dtype="float32"):
    a = keras.Input(shape, dtype=dtype)
    b = keras.Input(shape, dtype=dtype)
    f = PairFeatures()(encoder(a), encoder(b))
    x = layers.Dense(hidden, activation="relu")(f)
    x = layers.Dropout(dropout)(x)
    model = keras.Model([a, b], layers.Dense(1)(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def cnn_encoder():
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                             layers.Dense(128)])


def triplet_loss(_, d):
    return ops.mean(ops.relu(d[:, 0] - d[:, 1] + 0.2))


def triplet_model(encoder, shape):
    a, p, n = keras.Input(shape), keras.Input(shape), keras.Input(shape)
    ea, ep, en = encoder(a), encoder(p), encoder(n)
    dp = ops.sum(ops.square(ea - ep), axis=1, keepdims=True)
    dn = ops.sum(ops.square(ea - en), axis=1, keepdims=True)
    model = keras.Model([a, p, n], ops.concatenate([dp, dn], axis=1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=triplet_loss)
    return model


def run(name, step, items, reps):
    if WANTED and name not in WANTED:
        return
    print(f"{name} {median_rate(step, items, ROUNDS, reps):.3f}", flush=True)


def cnn():
    n = 128
    a, b, c = (RNG.random((n, 28, 28, 1), dtype=np.float32) for _ in range(3))
    y = (np.arange(n) % 2).astype(np.float32)
    m = pair_model(cnn_encoder(), (28, 28, 1), 64, 0.2)
    run("siamese_cnn_train", lambda: m.train_on_batch([a, b], y), n, 5)
    run("siamese_cnn_infer", lambda: m.predict_on_batch([a, b]), n, 10)
    t = triplet_model(cnn_encoder(), (28, 28, 1))
    run("triplet_cnn_train", lambda: t.train_on_batch([a, b, c], np.zeros((n, 2), np.float32)), n, 5)


def text():
    n, length, vocab = 128, 30, 20000
    a, b = (RNG.integers(1, vocab, (n, length)).astype(np.int32) for _ in range(2))
    y = (np.arange(n) % 2).astype(np.float32)
    enc = keras.Sequential([keras.Input((length,), dtype="int32"), layers.Embedding(vocab, 100), layers.LSTM(64)])
    m = pair_model(enc, (length,), 100, 0.1, dtype="int32")
    run("siamese_lstm_train", lambda: m.train_on_batch([a, b], y), n, 5)
    run("siamese_lstm_infer", lambda: m.predict_on_batch([a, b]), n, 10)


def vgg():
    m = keras.applications.VGG16(weights=None, classes=2622, input_shape=(224, 224, 3))
    x = RNG.standard_normal((8, 224, 224, 3), dtype=np.float32)
    run("vgg16_infer", lambda: m.predict_on_batch(x), 8, 1)


def resnet_encoder(size):
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    x = keras.Input((size, size, 3))
    f = base(x)
    return keras.Model(x, ops.concatenate([layers.GlobalMaxPooling2D()(f), layers.GlobalAveragePooling2D()(f)], axis=1))


def resnet():
    if not WANTED or "resnet50_infer" in WANTED:
        enc = resnet_encoder(224)
        x = RNG.standard_normal((8, 224, 224, 3), dtype=np.float32)
        run("resnet50_infer", lambda: enc.predict_on_batch(x), 8, 1)
    if not WANTED or "resnet50_train" in WANTED:
        m = pair_model(resnet_encoder(112), (112, 112, 3), 100, 0.1)
        m.optimizer.learning_rate = 1e-5
        a, b = (RNG.standard_normal((8, 112, 112, 3), dtype=np.float32) for _ in range(2))
        run("resnet50_train", lambda: m.train_on_batch([a, b], np.array([1, 0] * 4, np.float32)), 8, 1)


GROUPS = {cnn: ("siamese_cnn_train", "siamese_cnn_infer", "triplet_cnn_train"),
          text: ("siamese_lstm_train", "siamese_lstm_infer"), vgg: ("vgg16_infer",),
          resnet: ("resnet50_infer", "resnet50_train")}

if __name__ == "__main__":
    for group, names in GROUPS.items():
        if not WANTED or any(w in names for w in WANTED):
            group()
