"""`LayerWeightPlot`: after testing, write a head's learned layer weights into the run folder.

The neural family tests the best checkpoint; at the end of that test the net holds the weights the
run's predictions come from, so `layer_weights.json` (the weights, one per kept encoder layer) and
`layer_weights.png` (a bar chart) describe the model the run folder holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L

from ser.render import plot_layer_weights

LAYER_WEIGHTS_JSON = "layer_weights.json"
LAYER_WEIGHTS_PNG = "layer_weights.png"


def layer_weights_of(net) -> list[float] | None:
    """A net's layer weights (nets with a `layer_weights()` method), else None."""
    getter = getattr(net, "layer_weights", None)
    return None if getter is None else [float(v) for v in getter().detach().cpu()]


class LayerWeightPlot(L.Callback):
    """Write `layer_weights.json` and `layer_weights.png` into the trainer's root folder (the run folder)."""

    def __init__(self, layers: list[int] | None = None) -> None:
        self.layers = layers  # the encoder layers the weights belong to (default 0..L-1)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        weights = layer_weights_of(getattr(pl_module, "net", None))
        if weights is None or not trainer.is_global_zero:
            return
        folder = Path(trainer.default_root_dir)
        layers = (
            self.layers if self.layers and len(self.layers) == len(weights) else list(range(len(weights)))
        )
        (folder / LAYER_WEIGHTS_JSON).write_text(json.dumps({"layers": layers, "weights": weights}, indent=1))
        best = max(range(len(weights)), key=weights.__getitem__)
        plot_layer_weights(weights, folder / LAYER_WEIGHTS_PNG, layers,
                           title=f"learned layer weights (largest: layer {layers[best]}, {weights[best]:.3f})")  # fmt: skip
