"""The `opensmile` view: audEERING's openSMILE feature sets, through the `opensmile` package.

openSMILE is what most SER papers report as their hand-crafted baseline: eGeMAPSv02 (88 functionals,
the Geneva minimalistic acoustic parameter set), ComParE_2016 (6373 functionals, the Interspeech
challenges' brute-force set) and emobase (988). The package ships its own binary, so the features
are exactly the published ones.

- `level: functionals`: one `(D,)` vector per utterance, a vector view like `acoustic` (svm,
  xgboost, dnn ... take it as they take `acoustic`);
- `level: lld`: the low-level descriptors, `(T, D)` at openSMILE's 10 ms frames, a frame sequence
  like `sequence` (for model=lstm with `features=opensmile features.level=lld`).

Column names are openSMILE's own (`F0semitoneFrom27.5Hz_sma3nz_amean`, `pcm_fftMag_mfcc_sma[1]` ...).
The extraction driver (`ser.features.extract`) caches and parallelises this view like the others;
the cache key holds the feature set, the level, the sample rate and the `opensmile` version.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

OPENSMILE_VIEW = "opensmile"
FEATURE_SETS = ("eGeMAPSv02", "ComParE_2016", "emobase")
LEVELS = ("functionals", "lld")
# openSMILE's names of the levels (opensmile.FeatureLevel members)
_LEVEL_MEMBERS = {"functionals": "Functionals", "lld": "LowLevelDescriptors"}
# Bump when a change in this module changes the stored values: old caches then stop matching.
OPENSMILE_VIEW_VERSION = 1
# Less audio than this is extracted in one process even when jobs > 1. openSMILE runs at about 70-80x
# real time (20x slower than the acoustic view), so workers (seconds to start each) pay off sooner.
MIN_PARALLEL_AUDIO_SECONDS = 300.0


def opensmile_version() -> str:
    """The installed `opensmile` package's version (part of the cache key: its binary makes the values)."""
    try:
        return importlib.metadata.version("opensmile")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass
class OpenSmileConfig:
    """Every setting of the opensmile view (`conf/features/opensmile.yaml`)."""

    view: str = OPENSMILE_VIEW
    feature_set: str = "eGeMAPSv02"  # eGeMAPSv02 (88) | ComParE_2016 (6373) | emobase (988)
    level: str = "functionals"  # functionals (one vector per utterance) | lld (frames, for sequence models)
    sample_rate: int = 16000  # audio is resampled to this rate before openSMILE reads it

    def validate(self) -> None:
        """Raise ValueError with a one-line message for settings that cannot work."""
        if self.view != OPENSMILE_VIEW:
            raise ValueError(f"features.view={self.view!r} is not the opensmile view")
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(
                f"features.feature_set={self.feature_set!r} is not an openSMILE feature set: "
                f"choose one of {', '.join(FEATURE_SETS)}"
            )
        if self.level not in LEVELS:
            raise ValueError(
                f"features.level={self.level!r} is unknown: choose functionals (one vector per utterance) "
                "or lld (low-level descriptors per 10 ms frame, for sequence models such as lstm)"
            )
        if self.sample_rate < 8000:
            raise ValueError(
                f"features.sample_rate={self.sample_rate}: openSMILE's sets need at least 8000 Hz"
            )
        if opensmile_version() == "not installed":
            raise ValueError("features=opensmile needs the opensmile package: pip install opensmile")

    @property
    def vector(self) -> bool:
        """Whether each utterance is one row (functionals) rather than frames (lld)."""
        return self.level == "functionals"

    def key_dict(self) -> dict[str, Any]:
        """What determines the values: the settings, the opensmile version and this module's version."""
        return {
            **dataclasses.asdict(self),
            "opensmile": opensmile_version(),
            "opensmile_view_version": OPENSMILE_VIEW_VERSION,
        }


def is_opensmile_view(view_cfg: Mapping | Any) -> bool:
    """Whether a features config (a mapping, a config object or a view name) is the opensmile view."""
    if isinstance(view_cfg, str):
        return view_cfg == OPENSMILE_VIEW
    if isinstance(view_cfg, OpenSmileConfig):
        return True
    return isinstance(view_cfg, Mapping) and view_cfg.get("view") == OPENSMILE_VIEW


def make_opensmile_config(raw: Mapping, **overrides: Any) -> OpenSmileConfig:
    """A validated OpenSmileConfig from a plain `features` mapping (unknown keys such as `force` are ignored)."""
    raw = {**dict(raw), **overrides}
    known = {f.name for f in dataclasses.fields(OpenSmileConfig)}
    cfg = OpenSmileConfig(**{k: v for k, v in raw.items() if k in known})
    cfg.validate()
    return cfg


@functools.lru_cache(maxsize=8)
def smile(feature_set: str, level: str):
    """The `opensmile.Smile` extractor of a feature set and level, built once per process."""
    import opensmile  # here, not at the top: only this view needs it (and its import takes ~0.2 s)

    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, feature_set),
        feature_level=getattr(opensmile.FeatureLevel, _LEVEL_MEMBERS[level]),
    )


def opensmile_names(cfg: OpenSmileConfig) -> list[str]:
    """openSMILE's own column names of the configured set and level."""
    return list(smile(cfg.feature_set, cfg.level).feature_names)


def compute_opensmile(waves: list[np.ndarray], cfg: OpenSmileConfig) -> list[np.ndarray | str]:
    """Stored rows of each wave, float32 and finite: functionals `(1, D)`, lld `(T, D)`; a wave
    openSMILE cannot describe gives its one-line reason instead (too short: it returns only NaN)."""
    extractor = smile(cfg.feature_set, cfg.level)
    out: list[np.ndarray | str] = []
    for wave in waves:
        try:
            with warnings.catch_warnings():
                # "Segment too short, filling with NaN": reported below as this clip's skip reason
                warnings.simplefilter("ignore", UserWarning)
                values = extractor(np.asarray(wave, dtype=np.float32), cfg.sample_rate)  # (1, D, T)
        except Exception as exc:  # noqa: BLE001 - one odd clip must not sink the batch
            text = str(exc).strip().splitlines()
            out.append(f"openSMILE error: {text[0] if text else type(exc).__name__}")
            continue
        rows = np.asarray(values, dtype=np.float32)[0].T  # (T, D)
        if rows.size == 0 or np.isnan(rows).all():
            out.append(f"too short for openSMILE {cfg.feature_set} ({len(wave) / cfg.sample_rate:.3f} s)")
            continue
        # Last line of defence, as in the other views: no NaN or inf ever reaches a model.
        out.append(np.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0))
    return out
