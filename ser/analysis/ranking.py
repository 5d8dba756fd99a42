"""Which functionals separate the classes: a one-way test per column, fit on the data, ranked.

`kruskal`: Kruskal-Wallis H (ranks, so any monotone scale and outliers leave it unchanged), with
the effect size epsilon^2 = H / (n - 1) (Tomczak & Tomczak 2014), in [0, 1].
`anova`: one-way ANOVA F, with eta^2 = between-class / total sum of squares, in [0, 1].
The effect size compares across corpora of different sizes; the statistic alone grows with n.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

STATISTICS = {"kruskal": ("H", "epsilon_squared"), "anova": ("F", "eta_squared")}


def rank_functionals(
    x: np.ndarray, names: list[str], target: np.ndarray, classes: list[str], statistic: str = "kruskal"
) -> pd.DataFrame:
    """Rank the columns of `x` (N, D) by how well they separate the classes of `target` (N,
    indices into `classes`), best first.

    Columns: `rank` (1 = best), `functional`, the statistic (`H` or `F`), `p_value`, the effect
    size (`epsilon_squared` or `eta_squared`), and `median_<class>` for every class present. A
    constant column scores 0 (p = 1). Needs at least two classes with utterances.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic} is not a choice: use one of {', '.join(STATISTICS)}")
    x = np.asarray(x, dtype=np.float64)
    target = np.asarray(target)
    present = [i for i in range(len(classes)) if np.any(target == i)]
    if len(present) < 2:
        raise ValueError(
            f"ranking functionals needs two classes with utterances, found {len(present)}: choose another labels="
        )
    groups = [x[target == i] for i in present]
    n, k = len(x), len(present)
    score_name, effect_name = STATISTICS[statistic]
    # constant columns make scipy warn (and give inf or NaN): they are scored below, without the noise
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        if statistic == "kruskal":
            score, p = stats.kruskal(*groups, axis=0)
            effect = score / max(n - 1, 1)
        else:
            score, p = stats.f_oneway(*groups, axis=0)
            effect = score * (k - 1) / (score * (k - 1) + (n - k))
    # a column constant overall has no defined statistic: it separates nothing; one constant within
    # each class but not overall (F = inf) separates them perfectly
    none = (np.ptp(x, axis=0) == 0) | np.isnan(score)
    perfect = ~none & np.isinf(score)
    score, p = np.where(none, 0.0, score), np.where(none, 1.0, p)
    effect = np.where(none, 0.0, np.where(perfect, 1.0, effect))
    table = pd.DataFrame({"functional": names, score_name: score, "p_value": p, effect_name: effect})
    for i, group in zip(present, groups, strict=True):
        table[f"median_{classes[i]}"] = np.median(group, axis=0)
    table = table.sort_values([score_name, "functional"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
