#!/usr/bin/env python3
"""Writes the Keras 3 golden files of tests/zoo/data: small models the library can express, saved by Keras 3's
own model.save_weights("<name>.weights.h5"), with seeded weights and, in "<name>.io.npz", inputs x and the
outputs y that Keras computes for them at inference. tests/zoo/test_keras3.cpp loads each weight file into the
matching siamese encoder and compares its embeddings with y.

Run once (the files are committed):  python3 scripts/make_keras3_golden.py [output folder]
It installs keras 3, h5py, numpy and jax (Keras' CPU backend; no TensorFlow) into a virtual environment under
~/.cache/siamese/keras3-venv and runs itself there.
"""
import os
import subprocess
import sys
from pathlib import Path

VENV = Path.home() / ".cache" / "siamese" / "keras3-venv"
PACKAGES = ["keras>=3,<4", "h5py", "numpy", "jax", "scipy"]


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():  # running inside it already
        return
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    probe = "import keras, h5py, numpy, jax, scipy; assert keras.__version__.startswith('3.')"
    if subprocess.call([str(python), "-c", probe], stderr=subprocess.DEVNULL,
                       env={**os.environ, "KERAS_BACKEND": "jax"}) != 0:
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main():
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    import numpy as np

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "zoo" / "data"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20251203)
    L = keras.layers

    def seeded(model):
        """Replaces every weight with seeded values (moving variances and BatchNorm scales positive)."""
        for layer in model.layers:
            for sub in [layer] + (layer.layers if hasattr(layer, "layers") else []):
                ws = sub.get_weights()
                if not ws:
                    continue
                new = []
                for v, w in zip(sub.weights, ws):
                    name = v.path.split("/")[-1]
                    if name in ("moving_variance", "gamma"):
                        new.append(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
                    else:
                        new.append((0.5 * rng.standard_normal(w.shape)).astype("float32"))
                sub.set_weights(new)
        return model

    models = {
        # A small convolutional encoder like the tests' (Conv2D valid and same, pooling, BatchNorm, Dense).
        "keras3_conv": keras.Sequential([
            keras.Input((8, 8, 1)),
            L.Conv2D(4, 3, activation="relu", name="conv_a"),
            L.MaxPooling2D(2),
            L.Conv2D(6, 3, padding="same", name="conv_b"),
            L.BatchNormalization(name="bn"),
            L.ReLU(),
            L.Flatten(),
            L.Dense(5, name="embedding"),
        ], name="conv_encoder"),
        # A Dense / BatchNorm stack with a nested model (Keras 3 keeps its layers under layers/<key>/layers/).
        "keras3_dense": keras.Sequential([
            keras.Input((6,)),
            L.Dense(8, activation="relu", name="d1"),
            L.BatchNormalization(name="bn1"),
            keras.Sequential([keras.Input((8,)), L.Dense(4, activation="tanh", name="d2"), L.Dense(4, name="d3")],
                             name="block"),
            L.Dense(3, name="out"),
        ], name="dense_stack"),
        # Recurrent layers, whose variables Keras 3 keeps under the layer's "cell".
        "keras3_rnn": keras.Sequential([
            keras.Input((5, 3)),
            L.LSTM(4, return_sequences=True, name="lstm"),
            L.GRU(3, name="gru"),
            L.Dense(2, name="out"),
        ], name="rnn_encoder"),
    }
    for name, model in models.items():
        seeded(model)
        x = rng.standard_normal((4,) + tuple(model.input_shape[1:])).astype("float32")
        y = np.asarray(model(x, training=False), dtype="float32")
        weights = out / f"{name}.weights.h5"
        model.save_weights(str(weights))
        np.savez(out / f"{name}.io.npz", x=x, y=y)
        print(f"{weights} ({weights.stat().st_size} bytes), keras {keras.__version__}: y[0] = {y[0]}")


if __name__ == "__main__":
    ensure_venv()
    main()
