"""Face Insight: age, gender and emotion from faces, with small TensorFlow Lite models."""

__version__ = "1.4.0"
