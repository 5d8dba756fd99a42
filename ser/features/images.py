"""Spectrogram pictures for people who want to look at their data (training never uses images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ser.features.config import FeatureConfig
from ser.features.filters import mel_center_frequencies


def save_spectrogram_png(logmel: np.ndarray, path: str | Path, cfg: FeatureConfig, title: str = "") -> Path:
    """Write a log-mel spectrogram (n_mels, T) in dB as a PNG with labelled axes and a colour bar."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    n_mels, n_frames = logmel.shape
    seconds = n_frames * cfg.hop_length / cfg.sample_rate
    centres = mel_center_frequencies(n_mels, float(cfg.fmin), cfg.mel_fmax)
    fig, ax = plt.subplots(figsize=(max(4.0, min(14.0, 2.0 + seconds * 2)), 3.5), dpi=100)
    img = ax.imshow(logmel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, n_mels))
    ticks = np.linspace(0, n_mels - 1, 6).round().astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{centres[t]:.0f}" for t in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band centre (Hz)")
    ax.set_title(title or Path(path).stem, fontsize=9)
    fig.colorbar(img, ax=ax, label="power (dB)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
