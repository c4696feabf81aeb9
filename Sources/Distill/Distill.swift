// Distill module.
