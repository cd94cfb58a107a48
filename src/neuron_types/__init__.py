"""neuron-types: classify neurons from Allen Cell Types Database electrophysiology."""

import os

# TensorFlow reads its C++ log level once, when it loads, and then prints start-up lines
# nobody can act on (oneDNN, CPU instructions, "could not find cuda drivers", the cuDNN/
# cuFFT/cuBLAS factory-registration errors of every 2.17 build). 3 keeps only FATAL; its
# Python errors still raise, and a value the user sets wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
