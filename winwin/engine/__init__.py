"""Config, optimisation, checkpoints, the training loop and evaluation."""
