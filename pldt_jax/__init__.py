"""Pixel-Level Domain Transfer in JAX/Flax."""
