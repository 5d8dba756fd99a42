"""End-to-end fine-tuning of a pretrained speech encoder (`model=ssl_finetune`).

    waveform -> encoder (CNN front end frozen; optionally its first N transformer layers too)
             -> every hidden layer -> the SUPERB-style head of `ser.models.nets.ssl.SSLHead`
                (softmax layer weights, projection, mean or attentive pooling over the frames, linear)

The encoder is a local Hugging Face folder (wav2vec2, HuBERT, WavLM, data2vec-audio), loaded through
`ser.features.speech_encoder` (offline, one-line messages). Batches (`ser.data.WaveformDataModule`):
padded waves `(B, S)` with their lengths. Layer-wise learning rates (`parameter_groups`): the head
learns at the optimizer's `lr`, the top encoder layer at `lr * encoder_lr_ratio` and each layer below
at `layer_lr_decay` times the one above (the CNN front end, when not frozen, like the embedding).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ser.features.speech_encoder import EncoderError, load_speech_encoder
from ser.models.nets.ssl import SSLHead


class SSLFinetune(nn.Module):
    """A Hugging Face speech encoder and a SUPERB-style head, trained together."""

    def __init__(
        self,
        encoder: str,
        n_classes: int,
        proj_dim: int = 256,
        pooling: str = "mean",
        dropout: float = 0.1,
        freeze_feature_encoder: bool = True,
        freeze_layers: int = 0,
        encoder_lr_ratio: float = 0.1,
        layer_lr_decay: float = 1.0,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        loaded = load_speech_encoder(encoder, "cpu")
        if loaded.kind != "hf":
            raise EncoderError(
                f"model=ssl_finetune needs a Hugging Face wav2vec2 / HuBERT / WavLM / data2vec-audio folder as "
                f"features.encoder, not {encoder} ({loaded.kind}); use model=ssl_head on its frozen features"
            )
        self.encoder = (
            loaded.model.train()
        )  # loaded in eval mode; Lightning keeps a module's mode as it finds it
        # LayerDrop skips whole layers in training, and a skipped layer gives no hidden state: the
        # weighted sum over layers needs every one
        self.encoder.config.layerdrop = 0.0
        self.normalize_wave = loaded.normalize_wave
        self.use_attention_mask = loaded.use_attention_mask
        self.encoder_lr_ratio, self.layer_lr_decay = float(encoder_lr_ratio), float(layer_lr_decay)
        self.head = SSLHead(loaded.n_layers, loaded.dim, n_classes, proj_dim, pooling, dropout, frames=True)
        self.layers = list(self.encoder.encoder.layers)
        if freeze_feature_encoder:
            for p in self.encoder.feature_extractor.parameters():
                p.requires_grad = False
            self.encoder.feature_extractor._requires_grad = False  # HF skips its gradient checkpointing then
        if freeze_layers:
            if not 0 <= freeze_layers <= len(self.layers):
                raise ValueError(
                    f"model.net.freeze_layers={freeze_layers}: the encoder has {len(self.layers)} layers"
                )
            for module in [*self._embedding_modules(), *self.layers[:freeze_layers]]:
                for p in module.parameters():
                    p.requires_grad = False
            spec_embed = getattr(
                self.encoder, "masked_spec_embed", None
            )  # a bare Parameter (SpecAugment's mask value)
            if isinstance(spec_embed, nn.Parameter):
                spec_embed.requires_grad = False
        if gradient_checkpointing:  # renamed activation_checkpointing_enable in transformers 5
            enable = (
                getattr(self.encoder, "activation_checkpointing_enable", None)
                or self.encoder.gradient_checkpointing_enable
            )
            enable()
        if getattr(self.encoder.config, "mask_time_prob", 0) and hasattr(
            self.encoder.config, "apply_spec_augment"
        ):
            # HF's SpecAugment-style time masking of the features in training, as in its own fine-tuning recipes
            self.encoder.config.apply_spec_augment = True

    def _embedding_modules(self) -> list[nn.Module]:
        """What lies between the CNN front end and the first transformer layer."""
        enc = self.encoder
        mods = (
            [enc.feature_projection]
            if isinstance(getattr(enc, "feature_projection", None), nn.Module)
            else []
        )
        for n in ("pos_conv_embed", "layer_norm"):
            m = getattr(enc.encoder, n, None)
            if isinstance(m, nn.Module):
                mods.append(m)
        return mods

    def layer_weights(self) -> torch.Tensor:
        return self.head.layer_weights()

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups with layer-wise learning rates (module docstring); frozen ones left out."""
        top = lr * self.encoder_lr_ratio
        n = len(self.layers)
        groups = [{"params": list(self.head.parameters()), "lr": lr}]
        for i, layer in enumerate(self.layers):
            groups.append(
                {"params": list(layer.parameters()), "lr": top * self.layer_lr_decay ** (n - 1 - i)}
            )
        seen = {id(p) for g in groups for p in g["params"]}
        rest = [p for p in self.encoder.parameters() if id(p) not in seen]
        groups.append({"params": rest, "lr": top * self.layer_lr_decay**n})
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups]
        return [g for g in groups if g["params"]]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Padded waves `(B, S)` and their lengths in samples -> `(B, n_classes)` logits."""
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        if self.normalize_wave:  # zero mean, unit variance over each wave's own samples
            m = valid.to(x.dtype)
            count = m.sum(dim=1, keepdim=True).clamp_min(1.0)
            mean = (x * m).sum(dim=1, keepdim=True) / count
            var = (((x - mean) * m) ** 2).sum(dim=1, keepdim=True) / count
            x = ((x - mean) / torch.sqrt(var + 1e-7)) * m
        mask = valid.long() if self.use_attention_mask else None
        out = self.encoder(x, attention_mask=mask, output_hidden_states=True)
        states = torch.stack(out.hidden_states, dim=2)  # (B, T, L, D)
        frames = self.encoder._get_feat_extract_output_lengths(lengths).clamp(max=states.shape[1])
        return self.head(states, frames)
