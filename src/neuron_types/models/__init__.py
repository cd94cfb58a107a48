"""Kedro-free model code: gradient reversal, DANN, LSPIN and their training loops.

Importing this package registers every custom Keras object of the project (the gradient
reversal layer, CDAN's outer product, LSPIN and its ensemble), which loading a saved
``.keras`` model with safe mode needs. It loads TensorFlow.
"""

from neuron_types.models import grl, lspin, lspin_ensemble, networks  # noqa: F401
