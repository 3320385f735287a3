"""Auralis: a real-time generative ambient music engine."""

__version__ = "0.1.0"
