"""ser: an experiment framework for speech emotion recognition (Lightning + Hydra)."""

__version__ = "0.1.0"
