#!/usr/bin/env python3
"""What `weighted` and `stack` gain from more validation evidence: prints a table (asserts nothing;
README quotes what it prints).

    python benchmarks/ensemble_evidence.py RUN_OR_SWEEP [...]   # e.g. multirun/train/TIMESTAMP

For every fold of the given runs: each member's test UA, then `mean`, `vote`, and `weighted` /
`stack` learning from this fold's validation rows only (`evidence=own`) or from every fold's
(`evidence=folds`, the default of ensemble.py). `weighted own, prior_rows=0` is the unshrunk
choice on one fold's validation rows, as `weighted` chose before evidence pooling and shrinkage.
"""

from __future__ import annotations

import argparse

import numpy as np

from ser.ensemble import PRIOR_ROWS, gather_evidence, group_by_fold, load_member, pool_fold
from ser.metrics import classification_metrics
from ser.runs import find_runs

VARIANTS = (  # (label, method, evidence, prior_rows)
    ("mean", "mean", None, PRIOR_ROWS),
    ("vote", "vote", None, PRIOR_ROWS),
    ("weighted own, prior_rows=0", "weighted", "own", 0.0),
    (f"weighted own, prior_rows={PRIOR_ROWS:g}", "weighted", "own", PRIOR_ROWS),
    (f"weighted folds, prior_rows={PRIOR_ROWS:g} (default)", "weighted", "folds", PRIOR_ROWS),
    ("stack own", "stack", "own", PRIOR_ROWS),
    ("stack folds (default)", "stack", "folds", PRIOR_ROWS),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or multirun folders")
    args = parser.parse_args()
    by_fold = group_by_fold([load_member(r) for r in find_runs(args.runs)])
    folds = list(by_fold)
    classes = by_fold[folds[0]][0].classes
    rows: dict[str, list[float]] = {}
    for fold, members in by_fold.items():
        for m in members:
            name = str(m.run_dir.name)
            key = next((part for part in name.split(",") if part.startswith("model=")), name)
            rows.setdefault(key, []).append(
                classification_metrics(m.test.target, m.test.pred, classes)["test/ua"]
            )
        for label, method, source, prior in VARIANTS:
            evidence = gather_evidence(by_fold, fold, source) if source else None
            result, _ = pool_fold(members, method, evidence=evidence, prior_rows=prior)
            rows.setdefault(label, []).append(
                classification_metrics(result.test.target, result.test.pred, classes)["test/ua"]
            )
    width = max(len(k) for k in rows)
    print(f"{'test UA':<{width}}  " + "  ".join(f"fold {f}" for f in folds) + "   mean")
    for label, values in rows.items():
        print(f"{label:<{width}}  " + "  ".join(f"{v:6.3f}" for v in values) + f"  {np.mean(values):.3f}")


if __name__ == "__main__":
    main()
