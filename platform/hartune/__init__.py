"""hartune: hyperparameter and ablation studies for wearable-sensor human activity recognition."""

__version__ = "0.1.0"
