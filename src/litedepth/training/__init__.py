"""Training and distillation: the loop, optimiser and schedule, losses, teachers and their cache, the training-set mixing, torchrun."""
