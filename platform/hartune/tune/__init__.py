"""Ray Tune + Optuna: stage kinds, search spaces, samplers, schedulers, the trainable and the runner.

Import submodules directly (``hartune.tune.stages``...): this package imports nothing eagerly so that
``ray`` loads only where it is used.
"""
