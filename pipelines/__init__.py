"""How images reach the model, and the workflows users run: train, evaluate, register, compare."""
