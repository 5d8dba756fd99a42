"""Using a trained run from Python: `model = ser.load(RUN_DIR)`; `model.predict(files_or_arrays)`.

    model = ser.load("outputs/train/2026-12-04_10-00-00_svm_loso1")
    model.classes                      # ['neu', 'hap', 'sad', 'ang'], the run's class order
    table = model.predict(["a.wav", "clips/"])       # one row per input: prob_<class>, pred
    table = model.predict([wave], sample_rate=44100)  # numpy arrays too (mono or (samples, channels))

Text models (`features=text` or `text_embedding`: `text_tfidf`, `text_embed`) read transcripts, which
new audio does not come with: `model.predict_text(["I can't believe it!", ...])` takes them instead,
and `model.predict(audio)` says so in one line.

Regression and multitask runs (`task=regression|multitask`) give `pred_<attribute>` columns (e.g.
`pred_valence`, `pred_arousal`, `pred_dominance`, in the corpus's scale, windows averaged) instead of,
or besides, the class probabilities; `model.attributes` names them.

Prediction writes nothing and uses no feature cache: features are computed in memory. Files longer
than 1.5 windows are cut into `window_s` windows every `hop_s` seconds, and the windows'
probabilities are averaged.

Speakers. A model that standardises each speaker's features (the defaults of `svm`, `xgboost` and
`dnn`) needs to know which inputs share a speaker. `speakers=` is `none` (default: every input its
own speaker), `single` (all inputs one speaker), `by_folder` (the folder holding each file), a list
(one id per input), a mapping from path to speaker, or a CSV file with columns `path,speaker`. A
speaker with less than `min_speaker_seconds` of audio (default 30 s) is standardised with the
statistics saved at training time (pooled over the training speakers) instead of their own, so one
short file is never standardised against itself; the log says which speakers did. A file's
prediction therefore never depends on the other inputs of the call, unless you group it with them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soxr
from omegaconf import DictConfig, OmegaConf

from ser.audio import AudioError, audio_files, load_audio
from ser.features import (
    FeatureSet,
    is_ssl_view,
    is_text_view,
    make_audio_config,
    make_ssl_config,
    make_text_config,
    stores_vectors,
    text_feature_set,
    view_feature_names,
)
from ser.features.extract import compute_each
from ser.features.sentence_encoder import embedding_device
from ser.features.ssl import ssl_feature_set
from ser.features.store import stored_to_data
from ser.models import ModelFamily, get_family
from ser.normalize import stats_with_fallback
from ser.runs import check_run_dir, load_run_config, read_metrics
from ser.threads import set_torch_threads

log = logging.getLogger(__name__)

SPEAKER_MODES = ("none", "single", "by_folder")
BATCH_WINDOWS = 64  # windows featurised together (bounded memory, one STFT batch)


def window_starts(duration: float, window_s: float, hop_s: float) -> tuple[list[float], float]:
    """Start times and length of the analysis windows of a `duration`-second input: inputs up to 1.5
    windows long are one window; longer ones get `window_s` windows every `hop_s` seconds, the last
    one ending at the end."""
    if duration <= 1.5 * window_s:
        return [0.0], duration
    starts = [float(t) for t in np.arange(0.0, duration - window_s, hop_s)] + [duration - window_s]
    return starts, window_s


def each_alone(speakers: Any) -> bool:
    """Whether `speakers=` makes every input its own speaker (`none`, the default)."""
    return speakers is None or (isinstance(speakers, str) and speakers == "none")


@dataclass
class _Input:
    """One input of a `predict` call: its name in the output, its wave, or why it was skipped."""

    name: str
    wave: np.ndarray | None
    folder: str = ""
    error: str = ""


class TrainedModel:
    """A finished run, loaded for prediction (see the module docstring)."""

    def __init__(self, run_dir: str | Path, threads: int | str | None = "auto") -> None:
        self.run_dir = check_run_dir(run_dir)
        set_torch_threads(threads)
        self.config: DictConfig = load_run_config(self.run_dir)
        self.classes: list[str] = list(read_metrics(self.run_dir)["classes"])
        self.family: ModelFamily = get_family(self.config.model.family)
        self.model: Any = self.family.load(self.run_dir)
        self.task = self.family.task(self.model)
        # the dimensional attributes the run predicts (regression, multitask); [] for classification
        self.attributes: list[str] = list(self.task.attributes) if self.task.has_values else []
        features = OmegaConf.to_container(self.config.features, resolve=True)
        # a text model has no audio settings, an audio model no text settings
        self.text_config = make_text_config(features) if is_text_view(features) else None
        # the ssl view: the run's speech encoder, loaded once (on the trainer's device) on first use
        self.ssl_encoder = None
        if self.text_config:
            self.feature_config = None
        elif is_ssl_view(features):
            device = embedding_device(features.get("device", "auto"), (self.config.get("trainer") or {}).get("accelerator"))
            self.feature_config = make_ssl_config(features, device=device)
        else:
            self.feature_config = make_audio_config(features)

    def __repr__(self) -> str:
        what = f"classes={self.classes}" + (f", attributes={self.attributes}" if self.attributes else "")
        return f"TrainedModel({str(self.run_dir)!r}, model={self.config.model.name}, {what})"

    def _outputs(self, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None) -> np.ndarray:
        """Per row: the class probabilities, then the attribute estimates (as the task has them)."""
        parts = []
        if self.classes:
            parts.append(self.family.predict_proba(self.model, manifest, features, speaker_stats=speaker_stats))
        if self.attributes:
            parts.append(self.family.predict_values(self.model, manifest, features, speaker_stats=speaker_stats))
        return np.concatenate(parts, axis=1)

    def _row_outputs(self, row: dict[str, Any], mean: np.ndarray, ok: bool) -> None:
        """`prob_<class>`..., `pred` and `pred_<attribute>`... of one input from its mean outputs."""
        n = len(self.classes)
        if self.classes:
            row.update({f"prob_{c}": float(p) for c, p in zip(self.classes, mean[:n], strict=True)})
            row["pred"] = self.classes[int(np.argmax(mean[:n]))] if ok else ""
        row.update({f"pred_{a}": float(v) for a, v in zip(self.attributes, mean[n:], strict=True)})

    def predict(
        self,
        inputs: str | Path | np.ndarray | Sequence[str | Path | np.ndarray],
        sample_rate: int | None = None,
        speakers: str | Sequence[str] | Mapping[str, str] | None = "none",
        window_s: float = 4.0,
        hop_s: float = 2.0,
        min_speaker_seconds: float = 30.0,
    ) -> pd.DataFrame:
        """One row per input (a folder stands for the audio files under it): `input`, `speaker` (empty
        with `speakers="none"`), `windows`, `prob_<class>`..., `pred` (runs with classes),
        `pred_<attribute>`... (regression and multitask runs), and `error` (why an input was skipped,
        else empty)."""
        if self.text_config is not None:
            raise ValueError(
                f"{self.run_dir} is a text model (features={self.text_config.view}): it reads transcripts, "
                f"which new audio does not come with; use ser.load(RUN).predict_text([\"what was said\", ...])"
            )
        if self.config.get("text_features"):
            raise ValueError(
                f"{self.run_dir} is an audio+text fusion model (model={self.config.model.name}): it needs each "
                "clip's transcript too, which predict() does not take; use an audio model's run, or pool an "
                "audio run and a text run with ensemble.py"
            )
        items = self._read(inputs, sample_rate)
        speaker_of = self._speakers(items, speakers)
        if is_ssl_view(self.feature_config.view):
            # the encoder windows long inputs itself (features.window_seconds), as in training
            window_s = float("inf")
        sr = self.feature_config.sample_rate
        ids, owner, waves, window_speakers = [], [], [], []
        for k, item in enumerate(items):
            if item.wave is None:
                continue
            starts, length = window_starts(len(item.wave) / sr, window_s, hop_s)
            for j, start in enumerate(starts):
                a = int(round(start * sr))
                waves.append(item.wave[a : a + max(1, int(round(length * sr)))])
                ids.append(f"{k}#{j}")
                owner.append(k)
                window_speakers.append(speaker_of[k])
        probs = self._probabilities(ids, waves, window_speakers, items, speaker_of, min_speaker_seconds, owner)
        windows_of: dict[int, list[int]] = {}  # input -> its windows that have probabilities
        for i, k in enumerate(owner):
            if i in probs:
                windows_of.setdefault(k, []).append(i)
        # with speakers="none" every input stands alone: its internal group id means nothing to a user
        alone = each_alone(speakers)
        rows = []
        for k, item in enumerate(items):
            mine = windows_of.get(k, [])
            row: dict[str, Any] = {"input": item.name, "speaker": "" if alone else speaker_of[k], "windows": len(mine)}
            error = item.error or ("" if mine else "no features could be computed")
            width = len(self.classes) + len(self.attributes)
            mean = np.mean([probs[i] for i in mine], axis=0) if mine else np.full(width, np.nan)
            self._row_outputs(row, mean, bool(mine))
            row["error"] = error
            rows.append(row)
        return pd.DataFrame(rows)

    def predict_text(self, transcripts: str | Sequence[str]) -> pd.DataFrame:
        """A text model's prediction for raw transcripts, cleaned with the run's settings: one row per
        transcript with `input`, `text` (cleaned), `prob_<class>`..., `pred` and `error` (`no transcript`
        for an empty one when the run dropped those, `missing_transcript=drop`)."""
        if self.text_config is None:
            raise ValueError(f"{self.run_dir} is an audio model (features={self.feature_config.view}): use predict(audio)")
        if isinstance(transcripts, str):
            transcripts = [transcripts]
        transcripts = [str(t) for t in transcripts]
        if not transcripts:
            raise ValueError("predict_text: no transcripts given")
        accelerator = (self.config.get("trainer") or {}).get("accelerator")
        cfg = make_text_config(dataclasses.asdict(self.text_config),
                               device=embedding_device(self.text_config.device, accelerator))  # fmt: skip
        ids = [str(i) for i in range(len(transcripts))]
        features = text_feature_set(ids, transcripts, cfg)
        kept = {uid: i for i, uid in enumerate(features.ids)}
        width = len(self.classes) + len(self.attributes)
        probs = np.zeros((0, width))
        if features.ids:
            manifest = pd.DataFrame({"utterance_id": features.ids, "speaker": features.ids})
            probs = self._outputs(manifest, features)
        rows = []
        for uid, raw in zip(ids, transcripts, strict=True):
            row: dict[str, Any] = {"input": raw, "text": cfg.clean(raw)}
            p = probs[kept[uid]] if uid in kept else np.full(width, np.nan)
            self._row_outputs(row, p, uid in kept)
            row["error"] = "" if uid in kept else dict(features.skipped).get(uid, "")
            rows.append(row)
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ the steps of predict
    def _read(self, inputs: Any, sample_rate: int | None) -> list[_Input]:
        """Waves at the model's sample rate, mono; unreadable files are kept with their reason."""
        if isinstance(inputs, (str, Path, np.ndarray)):
            inputs = [inputs]
        sr = self.feature_config.sample_rate
        items: list[_Input] = []
        for n, x in enumerate(inputs):
            if isinstance(x, np.ndarray):
                if sample_rate is None:
                    raise ValueError("predict: arrays need sample_rate= (their sampling rate in Hz)")
                wave = np.asarray(x, dtype=np.float32)
                wave = wave.mean(axis=1) if wave.ndim == 2 else wave
                if wave.ndim != 1 or len(wave) == 0:
                    raise ValueError(f"predict: array {n} must be (samples,) or (samples, channels), got shape {x.shape}")
                if int(sample_rate) != sr:
                    wave = soxr.resample(wave, int(sample_rate), sr).astype(np.float32)
                items.append(_Input(f"array[{n}]", wave))
                continue
            for path in audio_files(x):
                try:
                    items.append(_Input(str(path), load_audio(path, sample_rate=sr), str(path.resolve().parent)))
                except AudioError as err:
                    log.warning("%s: skipped", err)
                    items.append(_Input(str(path), None, str(path.resolve().parent), str(err)))
        if not items:
            raise ValueError("predict: no inputs given")
        return items

    def _speakers(self, items: list[_Input], speakers: Any) -> list[str]:
        """The speaker id of every input, from the `speakers=` setting."""
        if each_alone(speakers):
            return [f"input{k}:{it.name}" for k, it in enumerate(items)]
        if isinstance(speakers, str) and speakers == "single":
            return ["speaker"] * len(items)
        if isinstance(speakers, str) and speakers == "by_folder":
            return [it.folder or it.name for it in items]
        if isinstance(speakers, (str, Path)):
            path = Path(speakers).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"speakers={speakers}: choose one of {', '.join(SPEAKER_MODES)}, or give a CSV file with columns path,speaker")
            table = pd.read_csv(path, dtype=str)
            if not {"path", "speaker"} <= set(table.columns):
                raise ValueError(f"{path}: needs columns path,speaker (has {', '.join(table.columns)})")
            speakers = {str((path.parent / p).resolve()): s for p, s in zip(table["path"], table["speaker"], strict=True)}
        if isinstance(speakers, Mapping):
            by_path = {str(Path(p).expanduser().resolve()): str(s) for p, s in speakers.items()}
            missing = [it.name for it in items if str(Path(it.name).resolve()) not in by_path]
            if missing:
                raise ValueError(f"speakers: no speaker given for {len(missing)} input(s), e.g. {missing[0]}")
            return [by_path[str(Path(it.name).resolve())] for it in items]
        speakers = [str(s) for s in speakers]
        if len(speakers) != len(items):
            raise ValueError(f"speakers: {len(speakers)} ids for {len(items)} inputs (a folder counts each file)")
        return speakers

    def _probabilities(
        self, ids: list[str], waves: list[np.ndarray], window_speakers: list[str], items: list[_Input],
        speaker_of: list[str], min_seconds: float, owner: list[int],
    ) -> dict[int, np.ndarray]:  # fmt: skip
        """Outputs per window index (`_outputs`: probabilities, attribute estimates), for the windows
        whose features could be computed."""
        cfg = self.feature_config
        if cfg.view == "waveform":  # a fine-tuned encoder takes the waves themselves
            features, kept = FeatureSet(cfg.view, list(ids), list(waves), ["sample"]), list(range(len(ids)))
        elif is_ssl_view(cfg.view):
            features, kept = self._ssl_features(ids, waves, items, owner)
        else:
            rows: list[np.ndarray | str] = []
            for start in range(0, len(waves), BATCH_WINDOWS):
                rows += compute_each(waves[start : start + BATCH_WINDOWS], cfg)
            kept = [i for i, r in enumerate(rows) if not isinstance(r, str)]
            for i, r in enumerate(rows):
                if isinstance(r, str):
                    log.warning("%s, window %s: skipped (%s)", items[owner[i]].name, ids[i], r)
            vector = stores_vectors(cfg)
            features = FeatureSet(cfg.view, [ids[i] for i in kept], [stored_to_data(cfg.view, rows[i], vector) for i in kept],
                                  view_feature_names(cfg))  # fmt: skip
        if not kept:
            return {}
        manifest = pd.DataFrame({"utterance_id": features.ids, "speaker": [window_speakers[i] for i in kept]})
        stats = None
        fallback = self.family.speaker_fallback(self.model)
        if fallback is not None:
            seconds: dict[str, float] = {}
            for item, spk in zip(items, speaker_of, strict=True):
                if item.wave is not None:
                    seconds[spk] = seconds.get(spk, 0.0) + len(item.wave) / cfg.sample_rate
            stats, short = stats_with_fallback(features.data, manifest["speaker"].to_numpy(), seconds, fallback,
                                               min_seconds, features.feature_axis)  # fmt: skip
            if short:
                log.info("%d of %d speakers have less than %.0f s of audio: standardised with the training speakers' "
                         "pooled statistics (group a speaker's files with speakers=... to use their own)",
                         len(short), len(set(speaker_of)), min_seconds)  # fmt: skip
        probs = self._outputs(manifest, features, speaker_stats=stats)
        return {i: p for i, p in zip(kept, probs, strict=True)}


    def _ssl_features(
        self, ids: list[str], waves: list[np.ndarray], items: list[_Input], owner: list[int]
    ) -> tuple[FeatureSet, list[int]]:
        """The ssl view of the inputs, computed now with the run's encoder (no cache)."""
        from ser.features.speech_encoder import load_speech_encoder

        if self.ssl_encoder is None:
            self.ssl_encoder = load_speech_encoder(self.feature_config.encoder, self.feature_config.device)
        features = ssl_feature_set(ids, waves, self.feature_config, self.ssl_encoder)
        position = {uid: i for i, uid in enumerate(ids)}
        for uid, reason in features.skipped:
            log.warning("%s, window %s: skipped (%s)", items[owner[position[uid]]].name, uid, reason)
        return features, [position[uid] for uid in features.ids]


def load(run_dir: str | Path, threads: int | str | None = "auto") -> TrainedModel:
    """Load a finished `train.py` run for prediction: `ser.load(RUN_DIR).predict(files)`.

    `threads` sets torch's intra-op threads for this process (`ser.threads`: `auto`, N, or None to
    leave torch's setting alone): torch's default, one per core, collapses next to busy processes."""
    return TrainedModel(run_dir, threads)
