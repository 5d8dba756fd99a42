"""Tiny randomly initialised speech encoders, saved the way real ones are shipped (tests only).

- `save_tiny_hf(folder, kind)`: a Hugging Face folder (config.json, model.safetensors,
  preprocessor_config.json) of a 2-layer, 32-wide WavLM, HuBERT, wav2vec2 or Whisper encoder;
- `install_tiny_torchaudio(hub_dir, name)`: a tiny WavLM bundle registered in `torchaudio.pipelines`
  under `name`, its checkpoint saved where a real bundle's is (`<hub_dir>/checkpoints/<file>`).
"""

from __future__ import annotations

from pathlib import Path

import torch

TINY = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": (32, 32, 32), "conv_stride": (5, 8, 8), "conv_kernel": (10, 8, 8),
    "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
}  # fmt: skip


def save_tiny_hf(folder: Path, kind: str = "wavlm", seed: int = 0) -> Path:
    """Write a tiny random encoder of `kind` (wavlm | hubert | wav2vec2 | whisper) into `folder`."""
    import transformers as tf

    torch.manual_seed(seed)
    folder = Path(folder)
    if kind == "whisper":
        config = tf.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                  decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80,
                                  max_source_positions=100, max_target_positions=16)  # fmt: skip
        model = tf.WhisperModel(config)
        extractor = tf.WhisperFeatureExtractor(feature_size=80)
    else:
        config_cls, model_cls = {
            "wavlm": (tf.WavLMConfig, tf.WavLMModel),
            "hubert": (tf.HubertConfig, tf.HubertModel),
            "wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2Model),
        }[kind]
        # wav2vec2-base style: group norm front end, no attention mask; the others: layer norm + mask
        norm = "group" if kind == "wav2vec2" else "layer"
        config = config_cls(**TINY, feat_extract_norm=norm)
        model = model_cls(config)
        extractor = tf.Wav2Vec2FeatureExtractor(
            do_normalize=kind != "wavlm", return_attention_mask=norm == "layer"
        )
    model.eval().save_pretrained(folder)
    extractor.save_pretrained(folder)
    return folder


TINY_TORCHAUDIO = {
    "extractor_mode": "group_norm", "extractor_conv_layer_config": [(32, 10, 5), (32, 8, 8), (32, 8, 8)],
    "extractor_conv_bias": False, "encoder_embed_dim": 32, "encoder_projection_dropout": 0.0,
    "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 2, "encoder_num_layers": 2, "encoder_num_heads": 2,
    "encoder_max_distance": 80, "encoder_num_buckets": 32, "encoder_attention_dropout": 0.0,
    "encoder_ff_interm_features": 64, "encoder_ff_interm_dropout": 0.0, "encoder_dropout": 0.0,
    "encoder_layer_norm_first": False, "encoder_layer_drop": 0.0, "aux_num_out": None,
}  # fmt: skip


def tiny_torchaudio_bundle(file_name: str = "tiny_wavlm.pth"):
    """A torchaudio Wav2Vec2Bundle with tiny WavLM parameters (its checkpoint not written yet)."""
    from torchaudio.pipelines._wav2vec2.impl import Wav2Vec2Bundle

    return Wav2Vec2Bundle(file_name, dict(TINY_TORCHAUDIO), 16000, False, "WavLM")


def install_tiny_torchaudio(
    monkeypatch, hub_dir: Path, name: str = "TINY_WAVLM", write: bool = True, seed: int = 0
):
    """Register a tiny bundle as `torchaudio.pipelines.<name>`, point torch.hub at `hub_dir` and, with
    `write`, save its random weights as the checkpoint the bundle names. Returns the model."""
    import torchaudio.pipelines
    from torchaudio.models import wavlm_model

    bundle = tiny_torchaudio_bundle()
    monkeypatch.setattr(torchaudio.pipelines, name, bundle, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub_dir))
    torch.manual_seed(seed)
    model = wavlm_model(**TINY_TORCHAUDIO).eval()
    if write:
        (Path(hub_dir) / "checkpoints").mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(hub_dir) / "checkpoints" / bundle._path)
    return model
