"""LightningDataModules, one per feature view, built on a prepared fold (or the training config).

- `SpectrogramDataModule` (logmel): random crops in training, averaged sliding windows at evaluation;
- `VectorDataModule` (acoustic): one standardised vector per utterance;
- `SequenceDataModule` (sequence): padded frame sequences with lengths;
- `SSLDataModule` (ssl): a speech encoder's layer means `(L, D)` or frames `(T, L, D)`;
- `WaveformDataModule` (waveform): padded raw waves with lengths, for fine-tuning a speech encoder;
- `TokenDataModule` (text): padded word-id sequences with lengths, vocabulary from training rows.

Batches are dicts: `x`, `y`, and where needed `lengths` (sequences) or `owner` (evaluation windows).
"""

from ser.data.base import FoldDataModule
from ser.data.sequence import SequenceDataModule
from ser.data.spectrogram import SpectrogramDataModule
from ser.data.ssl import SSLDataModule
from ser.data.tokens import TokenDataModule
from ser.data.vector import VectorDataModule
from ser.data.waveform import WaveformDataModule

__all__ = ["FoldDataModule", "SequenceDataModule", "SpectrogramDataModule", "SSLDataModule", "TokenDataModule", "VectorDataModule", "WaveformDataModule"]
