"""Several trained copies of one network as one model: the mean of their probability vectors.

A snapshot ensemble (train.snapshot_cycles) keeps the weights of each learning-rate cycle's end;
`average_of` puts each set into its own copy of the network and averages their predictions in
one Keras model, so the saved `.keras` file, the served model and the report all answer with the
ensemble, and test-time augmentation wraps it like any single network.
"""

import keras


def average_of(network: keras.Model, member_weights: list[list], with_members: bool = False) -> keras.Model:
    """A model averaging `network` run with each of `member_weights` (lists as from `get_weights()`).

    `with_members`: the outputs are each member's predictions, then the mean (to score them all in one pass).
    """
    if len(member_weights) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(member_weights)}")
    inputs = keras.Input(shape=network.input_shape[1:], name="image")
    outputs = []
    for index, weights in enumerate(member_weights, start=1):
        member = keras.models.clone_model(network)
        member.name = f"{network.name}_snapshot_{index}"
        member.set_weights(weights)
        outputs.append(member(inputs))
    # float32 whatever the global policy, as models/tta.py: serving reads float32 probabilities.
    mean = keras.layers.Average(dtype="float32", name="ensemble_mean")(outputs)
    return keras.Model(inputs, [*outputs, mean] if with_members else mean, name=f"{network.name}_ensemble")
