"""How images reach the model: tf.data datasets over decoded uint8 arrays, albumentations augmentation
(in a worker pool or tf.data threads), the normalization layer put inside the model, the preview grid."""
