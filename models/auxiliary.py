"""Auxiliary classifiers: present while training, with a weighted loss; absent at inference.

A network with auxiliary classifiers returns a dict {"predictions": ..., "aux1": ..., ...}.
Compiling that dict directly would rename every metric after its output
(`predictions_accuracy`), so instead `AuxiliaryLossModel` wraps the network:

- training:   loss = L(y, predictions) + aux_loss_weight * sum_i L(y, aux_i)  (GoogLeNet: 0.3)
- evaluation and prediction: the main output only, metrics named as for any model.

The labels stay as they are (one tensor); the same compiled loss is applied to every output.
The file to serve is `inference_model(network)`: the sub-graph from the input to the main
output, sharing the trained weights, with no auxiliary layers in it.
"""

import keras

MAIN_OUTPUT = "predictions"


@keras.saving.register_keras_serializable(package="imgclf")
class AuxiliaryLossModel(keras.Model):
    def __init__(self, network, aux_loss_weight=0.3, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.aux_loss_weight = float(aux_loss_weight)
        # The network is built already: count_params() and summary() work before any call.
        self.build(network.input_shape)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=False):
        outputs = self.network(inputs, training=training)
        return outputs if training else outputs[MAIN_OUTPUT]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = super().compute_loss(x, y, y_pred[MAIN_OUTPUT], sample_weight, training=training)
        for name, aux in y_pred.items():
            if name != MAIN_OUTPUT:
                loss = loss + self.aux_loss_weight * self._compile_loss(y, aux, sample_weight)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred[MAIN_OUTPUT]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "aux_loss_weight": self.aux_loss_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def has_auxiliary_outputs(model: keras.Model) -> bool:
    return isinstance(model.output, dict) and len(model.output) > 1


def build_training_model(model: keras.Model, aux_loss_weight: float = 0.3) -> keras.Model:
    """The model to compile and fit: `model` itself, or the auxiliary-loss wrapper if it has aux outputs."""
    if not has_auxiliary_outputs(model):
        return model
    return AuxiliaryLossModel(model, aux_loss_weight, name=f"{model.name}_with_aux")


def inference_model(model: keras.Model) -> keras.Model:
    """The single-output model to save and serve: input -> main predictions, no auxiliary layers."""
    if isinstance(model, AuxiliaryLossModel):
        model = model.network
    if not has_auxiliary_outputs(model):
        return model
    return keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=model.name)
