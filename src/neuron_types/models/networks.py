"""Keras builders for the DANN and for the same network without its domain head.

Every network here outputs *logits* for training (numerically stable losses) and, from the
same layers, probabilities for use: ``build_dann`` returns a model whose outputs are the
probabilities ``{"label": P(excitatory), "domain": P(human)}``; ``logit_view`` gives the
logit outputs of the same layers for a training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from neuron_types.config import DannNetwork
from neuron_types.models.grl import GradientReversal

LABEL_LOGIT = "label_logit"
DOMAIN_LOGIT = "domain_logit"


def _regulariser(config: DannNetwork):
    return keras.regularizers.L2(config.l2) if config.l2 > 0 else None


def _dense_stack(x, units: Sequence[int], config: DannNetwork, prefix: str, seed: int):
    for i, width in enumerate(units):
        x = layers.Dense(
            int(width),
            activation=config.activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            kernel_regularizer=_regulariser(config),
            name=f"{prefix}_dense_{i}",
        )(x)
        if config.dropout > 0:
            x = layers.Dropout(config.dropout, seed=seed + 1000 + i, name=f"{prefix}_dropout_{i}")(x)
    return x


def _label_logit(features, config: DannNetwork, seed: int):
    return layers.Dense(
        1,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        kernel_regularizer=_regulariser(config),
        name=LABEL_LOGIT,
    )(features)


# seed offsets of the gating network's layers (a DANN's layers use seed + 0 ... 4000)
GATING_SEED = 5000
GATE_NOISE_SEED = 6000


@keras.saving.register_keras_serializable(package="neuron_types")
class FeatureGates(layers.Layer):
    """LSPIN's stochastic gates from gate means ``mu``: ``clip(0.5 + mu + eps, 0, 1)``, with
    ``eps ~ N(0, sigma^2)`` while training and 0 at inference."""

    def __init__(self, sigma: float, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.sigma, self.seed = float(sigma), int(seed)
        self.noise = keras.random.SeedGenerator(self.seed)

    def call(self, mu, training=False):
        if training:
            mu = mu + self.sigma * keras.random.normal(keras.ops.shape(mu), seed=self.noise)
        return keras.ops.clip(0.5 + mu, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "seed": self.seed}


def _gated(scaled, n_features: int, config: DannNetwork, seed: int):
    """The standardised features times their per-cell gates (``config.gating``), or as they
    are without a gating network. Layers and seeds as in ``StackedNetwork``."""
    gating = config.gating
    if gating is None:
        return scaled
    hidden = scaled
    units = [*gating.gating_units, int(n_features)]
    for i, width in enumerate(units):
        last = i == len(units) - 1
        hidden = layers.Dense(
            int(width), activation="tanh" if last else gating.activation,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.1, seed=seed + GATING_SEED + i),
            name="gate_mean" if last else f"gating_{i}",
        )(hidden)
    gates = FeatureGates(gating.sigma, seed + GATE_NOISE_SEED, name="gates")(hidden)
    return layers.Multiply(name="gated_features")([scaled, gates])


def _inputs(n_features: int, input_scaling):
    """The input, standardised in-graph when ``input_scaling = (mean, variance)`` is given
    (a training scaler baked into an exported model, so that it takes raw features)."""
    inputs = keras.Input(shape=(int(n_features),), name="features")
    if input_scaling is None:
        return inputs, inputs
    mean, variance = input_scaling
    return inputs, layers.Normalization(mean=mean, variance=variance, name="training_scaler")(inputs)


def build_dann(
    n_features: int, config: DannNetwork, seed: int = 0, input_scaling=None,
    conditioning: Literal["none", "cdan"] = "none",
) -> keras.Model:
    """Feature extractor -> label head, and -> gradient reversal -> domain head; with
    ``config.gating``, LSPIN's gating network gates the features before the extractor.

    ``conditioning="cdan"`` feeds the domain head the outer product of the features and the
    label prediction (Long et al., NeurIPS 2018), so that alignment is class-conditional
    instead of marginal; ``"none"`` is Ganin's DANN. Outputs ``{"label": P(excitatory),
    "domain": P(human)}``.
    """
    inputs, scaled = _inputs(n_features, input_scaling)
    features = _dense_stack(_gated(scaled, n_features, config, seed), config.hidden_units, config, "extractor", seed)
    label_logit = _label_logit(features, config, seed + 2000)
    if conditioning == "cdan":
        # Outer product of the features with the predicted class distribution [1-p, p]:
        # the domain head then sees a separate copy of the features per predicted class.
        p = layers.Activation("sigmoid", name="label_for_conditioning")(label_logit)
        class_probs = layers.Concatenate(name="class_distribution")([1.0 - p, p])
        domain_input = OuterProduct(name="conditioned_features")([features, class_probs])
    else:
        domain_input = features
    reversed_features = GradientReversal(1.0, name="gradient_reversal")(domain_input)
    if config.domain_input_norm:
        # The domain loss becomes invariant to the scale of the features, so the reversed
        # gradient cannot win by inflating them (with Adam, even a small lambda otherwise
        # drives the features, and then both losses, to ~1e4 within a few epochs).
        reversed_features = layers.LayerNormalization(center=False, scale=False, name="domain_input_norm")(
            reversed_features
        )
    hidden = _dense_stack(reversed_features, config.domain_hidden_units, config, "domain", seed + 3000)
    domain_logit = layers.Dense(
        1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 4000), name=DOMAIN_LOGIT
    )(hidden)
    outputs = {
        "label": layers.Activation("sigmoid", name="label")(label_logit),
        "domain": layers.Activation("sigmoid", name="domain")(domain_logit),
    }
    return keras.Model(inputs, outputs, name="dann")


def build_classifier(n_features: int, config: DannNetwork, seed: int = 0, input_scaling=None) -> keras.Model:
    """The DANN's feature extractor and label head, without any domain head (the baselines).

    Outputs ``{"label": P(excitatory)}``.
    """
    inputs, scaled = _inputs(n_features, input_scaling)
    features = _dense_stack(_gated(scaled, n_features, config, seed), config.hidden_units, config, "extractor", seed)
    label_logit = _label_logit(features, config, seed + 2000)
    outputs = {"label": layers.Activation("sigmoid", name="label")(label_logit)}
    return keras.Model(inputs, outputs, name="classifier")


@keras.saving.register_keras_serializable(package="neuron_types")
class OuterProduct(layers.Layer):
    """Flattened outer product of two vectors per sample (CDAN's multilinear conditioning)."""

    def call(self, inputs):
        features, probs = inputs
        outer = keras.ops.expand_dims(features, 2) * keras.ops.expand_dims(probs, 1)
        return keras.ops.reshape(outer, (-1, features.shape[-1] * probs.shape[-1]))

    def compute_output_shape(self, input_shapes):
        features, probs = input_shapes
        return (features[0], features[-1] * probs[-1])


def logit_view(model: keras.Model) -> keras.Model:
    """The same layers as ``model``, outputting ``[label_logit]`` or ``[label_logit, domain_logit]``."""
    names = [LABEL_LOGIT] + ([DOMAIN_LOGIT] if has_domain_head(model) else [])
    return keras.Model(model.inputs, [model.get_layer(n).output for n in names], name=f"{model.name}_logits")


def has_domain_head(model: keras.Model) -> bool:
    return any(layer.name == DOMAIN_LOGIT for layer in model.layers)
