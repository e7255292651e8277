"""Beyond one device: tf.distribute strategies (Mirrored, MultiWorkerMirrored via TF_CONFIG, TPU) and
the custom training loop multi-worker runs need (Keras 3 fit does not run under MWMS)."""
