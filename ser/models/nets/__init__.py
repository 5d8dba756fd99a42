"""Plain `nn.Module` nets, configured from `conf/model/` and trained by `ser.models.classifier`.

Every net maps a batch to class logits (no softmax: the loss applies it):
- `CNN`, `ResNet`: log-mel spectrograms `(B, 1, n_mels, T)`;
- `DNN`: acoustic vectors `(B, D)`;
- `LSTM`: frame sequences `(B, T, D)` with their lengths;
- `SSLHead`: a speech encoder's layers `(B, L, D)` or `(B, T, L, D)` (SUPERB-style weighted sum).
"""

from ser.models.nets.cnn import CNN
from ser.models.nets.dnn import DNN
from ser.models.nets.lstm import LSTM
from ser.models.nets.resnet import ResNet
from ser.models.nets.ssl import SSLHead

__all__ = ["CNN", "DNN", "LSTM", "ResNet", "SSLHead"]
