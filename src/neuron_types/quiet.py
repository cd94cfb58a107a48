"""Silence library start-up noise that tells the user nothing, at its source.

TensorFlow's C++ logging reads ``TF_CPP_MIN_LOG_LEVEL`` once, when its shared libraries
load, so this module must be imported before the first ``import tensorflow``:
``neuron_types/__init__.py`` imports it, and every entry point (``kedro run``, the
tests, a notebook loading the catalog) imports the package before any of its models.

What it silences, each a line printed on every run that the user cannot act on:

* TensorFlow 2.17's import banner: "oneDNN custom operations are on", "This TensorFlow
  binary is optimized to use available CPU instructions", "Could not find cuda drivers"
  (INFO), "TF-TRT Warning: Could not find TensorRT" (WARNING) and "Unable to register
  cuDNN/cuFFT/cuBLAS factory: Attempting to register factory for plugin ... when one has
  already been registered" (ERROR, printed by every CUDA build of TensorFlow 2.17 at
  import; a known upstream bug, harmless). Only TensorFlow's C++ log is affected: its
  Python errors are still raised, and Kedro's and this project's logs are untouched.

A value the user sets wins: ``TF_CPP_MIN_LOG_LEVEL=0 kedro run`` shows everything again.
"""

from __future__ import annotations

import os

# 3 = FATAL only. The factory-registration lines are logged at ERROR, so 2 would leave them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
