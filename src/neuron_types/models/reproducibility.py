"""One call that makes a training run repeatable on the same machine."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow/Keras, and asks TensorFlow for deterministic ops.

    Determinism holds for the same seed, inputs, machine and thread settings; XLA and
    non-XLA runs draw dropout noise differently, so keep ``jit_compile`` fixed too.
    """
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
