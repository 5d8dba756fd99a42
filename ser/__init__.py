"""ser: an experiment framework for speech emotion recognition (Lightning + Hydra)."""

__version__ = "0.1.0"


def load(run_dir, threads="auto"):  # noqa: ANN001, ANN201 - documented on ser.api.load
    """Load a finished `train.py` run for prediction: `ser.load(RUN_DIR).predict(["a.wav"])` (see `ser.api`)."""
    from ser.api import load as load_run  # here: `import ser` stays light (no torch) until a run is loaded

    return load_run(run_dir, threads)
