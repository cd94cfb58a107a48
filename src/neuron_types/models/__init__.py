"""Kedro-free model code: gradient reversal, DANN, LSPIN and their training loops.

Import the submodules directly (``from neuron_types.models.grl import GradientReversal``);
importing a submodule registers its custom Keras objects, which loading a saved model needs.
"""
