"""Pretrained speech encoders from local files only: find the weights, load them, give hidden states.

`features.encoder` names the source:
- `PATH`: a Hugging Face model folder (`config.json` + `model.safetensors` or `pytorch_model.bin`,
  and usually `preprocessor_config.json`): wav2vec2, HuBERT, WavLM, data2vec-audio (any model whose
  forward takes `input_values`), or Whisper (its encoder only, on the log-mel input its feature
  extractor computes);
- `torchaudio:NAME`: a bundle of `torchaudio.pipelines` (e.g. `torchaudio:WAVLM_BASE_PLUS`) whose
  checkpoint file is already in the torch hub cache, `<torch.hub.get_dir()>/checkpoints/<file>`.

Loading never reaches the network: the Hugging Face libraries are switched to offline mode before
they are imported and folders are opened with `local_files_only`; a torchaudio checkpoint is read
from the hub cache directly (never through `get_model`, which would download it). A missing source
is one line naming the file and the folder to put it in (`EncoderError`).

`SpeechEncoder.hidden_states(waves)` runs a batch of 16 kHz waves and returns, per wave, a float32
tensor `(L, T, D)`: every hidden layer (Hugging Face: the input embedding and each transformer
layer's output, L = layers + 1; torchaudio: each transformer layer's output, L = layers), only the
frames that the wave itself (not its padding) produced.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ser.features.sentence_encoder import EncoderError, encoder_identity

log = logging.getLogger(__name__)

TORCHAUDIO_PREFIX = "torchaudio:"
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Whisper's mel frames per encoder frame (its second convolution has stride 2)
WHISPER_CONV_STRIDE = 2


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass
class SpeechEncoder:
    """A loaded encoder and how to feed it (see the module docstring).

    `kind`: `hf` (wav2vec2-style, `input_values`), `whisper` (encoder on log-mel features) or
    `torchaudio`. `frame_stride`: input samples per output frame (320 for all of them at 16 kHz).
    `max_samples`: the longest input the encoder takes (Whisper: its fixed 30 s), else None.
    """

    source: str
    kind: str
    model: nn.Module
    n_layers: int
    dim: int
    identity: list
    sample_rate: int = 16000
    frame_stride: int = 320
    normalize_wave: bool = (
        False  # zero mean, unit variance per wave (wav2vec2 feature extractors' do_normalize)
    )
    layer_norm_wave: bool = False  # torchaudio's large bundles: layer norm of the wave
    use_attention_mask: bool = False  # padded batches pass a mask (models whose front end has no group norm)
    max_samples: int | None = None
    feature_extractor: Any = None
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    def to(self, device: str) -> SpeechEncoder:
        self.model.to(device)
        self.device = device
        return self

    def prepare(self, wave: np.ndarray) -> np.ndarray:
        """A whole utterance as the encoder expects it (its normalisation), before any windowing."""
        if not (self.normalize_wave or self.layer_norm_wave):
            return np.asarray(wave, dtype=np.float32)
        return self._normalise(torch.as_tensor(np.asarray(wave, dtype=np.float32))).numpy()

    def _normalise(self, wave: torch.Tensor) -> torch.Tensor:
        if self.normalize_wave:
            wave = (wave - wave.mean()) / torch.sqrt(wave.var(unbiased=False) + 1e-7)
        if self.layer_norm_wave:
            wave = torch.nn.functional.layer_norm(wave, wave.shape)
        return wave

    def frames_of(self, n_samples: int) -> int:
        """Output frames of an input of `n_samples` samples."""
        if self.kind == "whisper":
            hop = int(self.feature_extractor.hop_length)
            return min(
                int(self.model.config.max_source_positions), math.ceil(n_samples / hop / WHISPER_CONV_STRIDE)
            )
        if self.kind == "hf":
            return int(self.model._get_feat_extract_output_lengths(torch.tensor([n_samples]))[0])
        return int(self.extra["frames"](n_samples))

    @torch.no_grad()
    def hidden_states(
        self, waves: list[np.ndarray], autocast_dtype: torch.dtype | None = None, prepared: bool = False
    ) -> list[torch.Tensor]:
        """Per wave, `(L, T, D)` float32 on the encoder's device (T: the wave's own frames).

        `prepared`: the waves (windows of an utterance) went through `prepare` already."""
        if not prepared:
            waves = [self.prepare(w) for w in waves]
        lengths = [len(w) for w in waves]
        if self.max_samples is not None and max(lengths) > self.max_samples:
            raise ValueError(
                f"{self.source}: takes at most {self.max_samples} samples per input, got {max(lengths)}"
            )
        cast = (
            torch.autocast(device_type=torch.device(self.device).type, dtype=autocast_dtype)
            if autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with cast:
            if self.kind == "whisper":
                layers = self._whisper(waves)
            else:
                layers = self._wav2vec(waves, lengths)
        stacked = torch.stack([h.float() for h in layers], dim=1)  # (B, L, T, D)
        return [stacked[b, :, : self.frames_of(n)] for b, n in enumerate(lengths)]

    def _forward(self, batch: torch.Tensor, lengths: list[int] | None) -> list[torch.Tensor]:
        """Every hidden layer `(B, T, D)` of a padded batch (`lengths` given: with an attention mask)."""
        if self.kind == "hf":
            mask = None
            if lengths is not None:
                mask = (torch.arange(batch.shape[1], device=self.device)[None, :]
                        < torch.tensor(lengths, device=self.device)[:, None]).long()  # fmt: skip
            return list(self.model(batch, attention_mask=mask, output_hidden_states=True).hidden_states)
        lens = None if lengths is None else torch.tensor(lengths, device=self.device)
        return list(self.model.extract_features(batch, lens)[0])

    def _wav2vec(self, waves: list[np.ndarray], lengths: list[int]) -> list[torch.Tensor]:
        batch = torch.zeros(len(waves), max(lengths), device=self.device)
        for b, w in enumerate(waves):
            batch[b, : len(w)] = torch.as_tensor(w, dtype=torch.float32, device=self.device)
        if len(waves) == 1:
            return self._forward(batch, None)
        if self.use_attention_mask:
            return self._forward(batch, lengths)
        # No attention mask (group-norm front ends such as wav2vec2-base's normalise over time, so
        # padding would change every frame; torchaudio's WavLM takes no lengths): one wave at a
        # time, the outputs padded afterwards. Exact, at the speed of batch_size=1.
        each = [self._forward(batch[b : b + 1, :n], None) for b, n in enumerate(lengths)]
        longest = max(layers[0].shape[1] for layers in each)
        pad = torch.nn.functional.pad
        return [torch.cat([pad(layers[i], (0, 0, 0, longest - layers[i].shape[1])) for layers in each])
                for i in range(len(each[0]))]  # fmt: skip

    def _whisper(self, waves: list[np.ndarray]) -> list[torch.Tensor]:
        fe = self.feature_extractor
        n = self.max_samples
        inputs = fe([np.asarray(w, dtype=np.float32) for w in waves], sampling_rate=self.sample_rate,
                    return_tensors="pt", padding="max_length", max_length=n, truncation=True)  # fmt: skip
        features = inputs["input_features"].to(self.device)
        out = self.model(features, output_hidden_states=True)
        return list(out.hidden_states)


# ---------------------------------------------------------------------- Hugging Face folders
def hf_folder(source: str) -> Path:
    """The local Hugging Face folder `features.encoder` names, checked for a config and weights."""
    folder = Path(source).expanduser()
    hint = (
        "download the model on a machine with network access (e.g. `hf download microsoft/wavlm-base-plus "
        "--local-dir wavlm-base-plus`), copy the folder here and set features.encoder=PATH, or use features.encoder=torchaudio:NAME"
    )
    if not folder.is_dir():
        raise EncoderError(f"features.encoder={source}: no such folder; {hint}")
    if not (folder / "config.json").is_file():
        raise EncoderError(f"features.encoder={source}: no config.json in {folder.resolve()}; {hint}")
    if not any((folder / name).is_file() for name in HF_WEIGHT_FILES) and not list(
        folder.glob("*.safetensors")
    ):
        raise EncoderError(
            f"features.encoder={source}: no weights in {folder.resolve()} (expected {' or '.join(HF_WEIGHT_FILES)}); {hint}"
        )
    return folder.resolve()


def _load_hf(source: str) -> SpeechEncoder:
    folder = hf_folder(source)
    os.environ["HF_HUB_OFFLINE"] = "1"  # read at import by huggingface_hub: set before importing it
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise EncoderError(
            f"features.encoder={source} is a Hugging Face folder, which needs transformers: pip install -e '.[ssl]' "
            "(or use features.encoder=torchaudio:NAME)"
        ) from None

    transformers_logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    has_preprocessor = (folder / "preprocessor_config.json").is_file()
    identity = encoder_identity(folder)
    if config.model_type == "whisper":
        from transformers import WhisperFeatureExtractor, WhisperModel

        full = WhisperModel.from_pretrained(folder, local_files_only=True)
        model = full.get_encoder()
        del full  # the decoder is never used
        fe = (
            WhisperFeatureExtractor.from_pretrained(folder, local_files_only=True)
            if has_preprocessor
            else WhisperFeatureExtractor(feature_size=config.num_mel_bins)
        )
        max_samples = int(config.max_source_positions) * WHISPER_CONV_STRIDE * int(fe.hop_length)
        return SpeechEncoder(str(source), "whisper", model.eval(), int(config.encoder_layers) + 1, int(config.d_model),
                             identity, sample_rate=int(fe.sampling_rate), frame_stride=WHISPER_CONV_STRIDE * int(fe.hop_length),
                             max_samples=max_samples, feature_extractor=fe)  # fmt: skip
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    if not hasattr(model, "_get_feat_extract_output_lengths"):
        raise EncoderError(
            f"features.encoder={source}: model type {config.model_type!r} is not a speech encoder that takes waveforms "
            "(use wav2vec2, HuBERT, WavLM, data2vec-audio or Whisper)"
        )
    normalize, mask = False, getattr(config, "feat_extract_norm", "group") == "layer"
    sample_rate = 16000
    if has_preprocessor:
        fe = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        normalize = bool(getattr(fe, "do_normalize", False))
        mask = bool(getattr(fe, "return_attention_mask", mask))
        sample_rate = int(getattr(fe, "sampling_rate", 16000))
    stride = int(np.prod(config.conv_stride))
    return SpeechEncoder(str(source), "hf", model.eval(), int(config.num_hidden_layers) + 1, int(config.hidden_size),
                         identity, sample_rate=sample_rate, frame_stride=stride, normalize_wave=normalize,
                         use_attention_mask=mask)  # fmt: skip


# ---------------------------------------------------------------------- torchaudio bundles
def torchaudio_bundle(name: str) -> Any:
    """The `torchaudio.pipelines` bundle of that name (a wav2vec2 / HuBERT / WavLM one)."""
    import torchaudio.pipelines as pipelines

    bundle = getattr(pipelines, name, None)
    if bundle is None or not hasattr(bundle, "_params") or not hasattr(bundle, "_path"):
        known = sorted(n for n in dir(pipelines) if n.isupper() and hasattr(getattr(pipelines, n), "_params"))
        raise EncoderError(
            f"features.encoder=torchaudio:{name}: no such wav2vec2-style bundle; choose one of {', '.join(known)}"
        )
    return bundle


def torchaudio_checkpoint(name: str) -> Path:
    """Where the checkpoint of bundle `name` must be: `<torch hub dir>/checkpoints/<file>`."""
    bundle = torchaudio_bundle(name)
    return _hub_checkpoint_dir() / Path(str(bundle._path)).name


def _load_torchaudio(name: str) -> SpeechEncoder:
    from torchaudio.models import wav2vec2_model, wavlm_model

    bundle = torchaudio_bundle(name)
    path = torchaudio_checkpoint(name)
    if not path.is_file():
        url = f"https://download.pytorch.org/torchaudio/models/{Path(str(bundle._path)).name}"
        raise EncoderError(
            f"features.encoder=torchaudio:{name}: checkpoint {path.name} is not in {path.parent}; "
            f"copy it there from a machine with network access ({url}), or set TORCH_HOME to the folder holding hub/checkpoints/"
        )
    params = dict(bundle._params)
    build = wavlm_model if getattr(bundle, "_model_type", "Wav2Vec2") == "WavLM" else wav2vec2_model
    model = build(**params)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    convs = params["extractor_conv_layer_config"]
    stride = int(np.prod([s for _, _, s in convs]))

    def frames(n: int) -> int:
        for _, kernel, s in convs:
            n = (n - kernel) // s + 1
        return max(0, n)

    identity = [TORCHAUDIO_PREFIX + name, path.name, path.stat().st_size]
    return SpeechEncoder(TORCHAUDIO_PREFIX + name, "torchaudio", model.eval(), int(params["encoder_num_layers"]),
                         int(params["encoder_embed_dim"]), identity, sample_rate=int(bundle._sample_rate),
                         frame_stride=stride, layer_norm_wave=bool(getattr(bundle, "_normalize_waveform", False)),
                         use_attention_mask=build is wav2vec2_model, extra={"frames": frames})  # fmt: skip


def require_encoder(source: str | None) -> str:
    """`features.encoder` as a str; unset, a one-line message saying what to set."""
    source = "" if source is None else str(source)
    if not source or source in ("???", "None", "null"):
        raise EncoderError(
            "features=ssl needs features.encoder=PATH (a local Hugging Face wav2vec2 / HuBERT / WavLM / Whisper folder) "
            "or features.encoder=torchaudio:NAME (e.g. torchaudio:WAVLM_BASE_PLUS); README: Pretrained speech encoders"
        )
    return source


def encoder_source_identity(source: str) -> list:
    """What the cache key knows of an encoder without loading it (files, sizes, small files' hashes)."""
    source = require_encoder(source)
    if source.startswith(TORCHAUDIO_PREFIX):
        name = source[len(TORCHAUDIO_PREFIX) :]
        path = torchaudio_checkpoint(name)
        if not path.is_file():
            _load_torchaudio(name)  # raises the one-line message
        return [source, path.name, path.stat().st_size]
    return encoder_identity(hf_folder(source))


def load_speech_encoder(source: str, device: str = "cpu") -> SpeechEncoder:
    """The encoder `features.encoder` names (module docstring), in eval mode on `device`."""
    source = require_encoder(source)
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("features.device=cuda but no GPU is visible: use features.device=auto or cpu")
    if source.startswith(TORCHAUDIO_PREFIX):
        encoder = _load_torchaudio(source[len(TORCHAUDIO_PREFIX) :])
    else:
        encoder = _load_hf(source)
    log.info(
        "speech encoder %s: %s, %d hidden layers of %d", source, encoder.kind, encoder.n_layers, encoder.dim
    )
    return encoder.to(device)
