"""The feature settings: one dataclass with every knob and its default, built from a Hydra node.

`conf/features/*.yaml` mirror these defaults; the code holds them too so `python -m ser.features`
and notebooks work without Hydra. Keys a trainer adds for its own use (`jobs`, `force`, ...) are
tolerated and kept out of the cache key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

VIEWS = ("logmel", "acoustic", "sequence")

# Keys that change how extraction runs, never what it computes: left out of the cache key.
RUNTIME_KEYS = frozenset({"jobs", "force", "progress", "cache_dir", "batch_seconds"})

# Functionals per descriptor group in the acoustic view (and defaults for the sequence chunks).
# "pNN" is the NN-th percentile; "slope" is the least-squares slope per second.
CONTOUR = ["mean", "std", "min", "max", "p10", "p50", "p90", "slope", "iqr", "skew", "kurt", "rise", "linerr"]
DEFAULT_FUNCTIONALS: dict[str, list[str]] = {
    "mfcc": ["mean", "std", "min", "max", "slope"],
    "mfcc_delta": ["mean", "std"],
    "mfcc_delta2": ["mean", "std"],
    "logmel": ["mean", "std"],
    "contrast": ["mean", "std"],
    "chroma": ["mean", "std"],
    # prosodic and spectral contours: also the ComParE-style iqr, skew, kurt, rise, linerr (+0.004 to
    # +0.016 mean EmoDB LOSO UA in three rounds, docs/acoustic_ablation.md)
    "spectral": [*CONTOUR],
    "energy": [*CONTOUR],
    "pitch": [*CONTOUR],
    "voice": ["mean", "std", "p50", "max"],
    "spectral_shape": [*CONTOUR],
    # off by default (no clear gain in EmoDB LOSO UA, docs/acoustic_ablation.md); e.g.
    # features.functionals.formants=[mean,std,p10,p50,p90] switches a group on
    "loudness": [],
    "perturbation": [],
    "formants": [],
    "lld_delta": [],
}


@dataclass
class FeatureConfig:
    """Every setting of the feature engine. Times are in milliseconds, frequencies in Hz."""

    view: str = "acoustic"
    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 0  # 0: the next power of two at or above the window length
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 0.0  # 0: Nyquist
    top_db: float = 80.0  # dB floor below each utterance's loudest bin (as librosa.power_to_db)
    # MFCCs. Unset: 20 for the acoustic view (+0.02 mean EmoDB LOSO UA over 13, docs/acoustic_ablation.md),
    # 13 for the sequence view
    n_mfcc: int | None = None
    mfcc_deltas: int = 2  # 0, 1 (delta) or 2 (delta and delta-delta)
    delta_width: int = 9
    n_chroma: int = 12
    contrast_fmin: float = 200.0
    contrast_bands: int = 6
    contrast_quantile: float = 0.02
    rolloff: float = 0.85
    f0_min: float = 60.0
    f0_max: float = 500.0
    pitch_sample_rate: int = 8000  # YIN runs on audio decimated to this rate (F0 <= 500 Hz needs no more)
    # Pitch every this many ms (a multiple of hop_ms). Unset: 20 ms for the acoustic view (its F0
    # statistics need no finer grid, and YIN is the costliest step), hop_ms for the sequence view.
    pitch_hop_ms: float | None = None
    yin_frame_ms: float = 40.0  # YIN analysis frame: must hold more than one period of f0_min (two is better)
    yin_threshold: float = 0.1  # YIN absolute threshold (trough depth), as librosa.yin
    voicing_threshold: float = 0.35  # a frame is voiced when its YIN aperiodicity is below this ...
    voicing_min_db: float = -40.0  # ... and its RMS is within this many dB of the utterance's loudest frame
    functionals: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_FUNCTIONALS))
    rhythm: bool = True  # acoustic view: append the temporal scalars of ser.features.rhythm
    chunks: int = 0  # sequence view: 0 = frame level, N = pool into N equal chunks
    chunk_functionals: list[str] = field(default_factory=lambda: ["mean", "std"])
    include_logmel: bool = False  # sequence view: also append the log-mel bands to each frame

    def __post_init__(self) -> None:
        if self.pitch_hop_ms is None:
            self.pitch_hop_ms = 2 * self.hop_ms if self.view == "acoustic" else self.hop_ms
        if self.n_mfcc is None:
            self.n_mfcc = 20 if self.view == "acoustic" else 13

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def fft_size(self) -> int:
        if self.n_fft:
            return int(self.n_fft)
        return 1 << (self.win_length - 1).bit_length()

    @property
    def pitch_decimation(self) -> int:
        return self.sample_rate // self.pitch_sample_rate

    @property
    def pitch_stride(self) -> int:
        """YIN runs on every pitch_stride-th frame (1: every frame)."""
        return max(1, int(round(self.pitch_hop_ms / self.hop_ms)))

    @property
    def yin_length(self) -> int:
        """YIN frame length in samples at pitch_sample_rate, made even so frames centre like the STFT's."""
        n = int(round(self.pitch_sample_rate * self.yin_frame_ms / 1000))
        return n + (n % 2)

    @property
    def mel_fmax(self) -> float:
        return float(self.fmax) if self.fmax else self.sample_rate / 2

    def validate(self) -> None:
        """Raise ValueError with a one-line message for settings that cannot work."""
        if self.view not in VIEWS:
            raise ValueError(
                f"features.view={self.view!r} is unknown; use one of {', '.join(VIEWS)} (audio) or text, text_embedding"
            )
        if self.fft_size < self.win_length:
            raise ValueError(
                f"features.n_fft={self.n_fft} is shorter than the window ({self.win_length} samples)"
            )
        if not 0 < self.f0_min < self.f0_max <= self.sample_rate / 2:
            raise ValueError(f"features: need 0 < f0_min < f0_max <= {self.sample_rate / 2} Hz")
        if self.sample_rate % self.pitch_sample_rate or self.hop_length % self.pitch_decimation:
            raise ValueError(
                f"features.pitch_sample_rate={self.pitch_sample_rate} must divide sample_rate and the hop "
                f"({self.sample_rate} Hz, {self.hop_length} samples); e.g. 8000 or {self.sample_rate}"
            )
        if abs(self.pitch_hop_ms / self.hop_ms - self.pitch_stride) > 1e-6:
            raise ValueError(
                f"features.pitch_hop_ms={self.pitch_hop_ms} must be a multiple of hop_ms={self.hop_ms}"
            )
        if self.f0_max >= self.pitch_sample_rate / 2:
            raise ValueError(f"features.f0_max={self.f0_max} must stay below pitch_sample_rate / 2")
        if self.pitch_sample_rate / self.f0_min >= self.yin_length - 1:
            raise ValueError(
                f"features.yin_frame_ms={self.yin_frame_ms} is too short for f0_min={self.f0_min} Hz; "
                f"raise it above {2000 / self.f0_min:.0f} ms"
            )
        if self.contrast_fmin * 2 ** (self.contrast_bands - 1) >= self.sample_rate / 2:
            raise ValueError("features: contrast_fmin * 2**(contrast_bands-1) must stay below Nyquist")
        if self.mfcc_deltas not in (0, 1, 2):
            raise ValueError("features.mfcc_deltas must be 0, 1 or 2")
        if self.chunks < 0:
            raise ValueError("features.chunks must be >= 0")

    def key_dict(self) -> dict[str, Any]:
        """The settings that determine the features' values: what the cache key hashes."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_KEYS}


def to_plain(cfg: Any) -> dict[str, Any]:
    """A Hydra DictConfig or any mapping as a plain, resolved dict."""
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return dict(OmegaConf.to_container(cfg, resolve=True))
    except ImportError:  # omegaconf is a dependency, but the engine itself does not need it
        pass
    if isinstance(cfg, Mapping):
        return dict(cfg)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):  # FeatureConfig, TextConfig
        return dataclasses.asdict(cfg)
    raise TypeError(f"features config must be a mapping, got {type(cfg).__name__}")


def make_config(view_cfg: Any, **overrides: Any) -> FeatureConfig:
    """Build and validate a FeatureConfig from a Hydra `features` node (extra keys are ignored)."""
    if isinstance(view_cfg, FeatureConfig) and not overrides:
        view_cfg.validate()
        return view_cfg
    raw = {**to_plain(view_cfg), **overrides}
    known = {f.name for f in dataclasses.fields(FeatureConfig)}
    extra = sorted(set(raw) - known - RUNTIME_KEYS)
    if extra:
        log.debug("features config: ignoring keys %s", extra)
    kwargs = {k: v for k, v in raw.items() if k in known}
    if "functionals" in kwargs:
        # A partial mapping overrides only the groups it names.
        kwargs["functionals"] = {
            **DEFAULT_FUNCTIONALS,
            **{k: list(v) for k, v in dict(kwargs["functionals"]).items()},
        }
    if "chunk_functionals" in kwargs:
        kwargs["chunk_functionals"] = list(kwargs["chunk_functionals"])
    cfg = FeatureConfig(**kwargs)
    cfg.validate()
    return cfg
