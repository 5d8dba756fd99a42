"""Model families and their registry: `model.family` in a model config names one of `FAMILIES`.

- `neural` (`ser.models.neural`): `nn.Module` nets (`ser.models.nets`) trained by one
  LightningModule (`ser.models.classifier`);
- `classical` (`ser.models.classical`): scikit-learn-API estimators (scikit-learn, XGBoost) behind
  one adapter with the same life cycle.

Each is a `ModelFamily` (`ser.models.family`): `fit(cfg, fold, out_dir, loggers)`, `load(run_dir)`,
`predict_proba(model, manifest, features)`. Adding a family is one module plus one line below.
"""

from __future__ import annotations

from ser.models.classical import CLASSICAL
from ser.models.family import ModelFamily
from ser.models.neural import NEURAL

FAMILIES: dict[str, ModelFamily] = {
    NEURAL.name: NEURAL,
    CLASSICAL.name: CLASSICAL,
}


def get_family(name: str) -> ModelFamily:
    """The family `model.family` names, with a clear error for unknown names."""
    if name not in FAMILIES:
        raise ValueError(f"model.family={name!r} is unknown: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["FAMILIES", "ModelFamily", "get_family"]
