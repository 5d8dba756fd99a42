"""Several corpora as one: `corpus=multi 'corpus.parts=[{name: emodb, root: PATH}, {name: demo}]'`.

Each part names a corpus config (`conf/corpus/<name>.yaml`); the part's other keys are merged on top
of it, so a part takes exactly the keys of that corpus's own config (plus `alias`, the name the part
goes by when one corpus is used twice, e.g. two CSV manifests). The combined manifest prefixes
`utterance_id`, `speaker` and `group` with the part's name (`emodb/03a01Wa`, `emodb/emodb03`), so
ids stay unique and no speaker of one corpus is taken for a speaker of another, and fills the
optional `corpus` column, which the cross-corpus splits read. What a part's reader skipped stays in
`attrs["skipped"]`, prefixed the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ser.corpora.manifest_schema import check_manifest, make_manifest
from ser.corpora.reading import read_configured

MULTI_TARGET = "ser.corpora.multi.read"
NAME = "multi"
# conf/corpus/ sits next to the package (editable install), as for `python -m ser.corpora`.
CORPUS_CONF = Path(__file__).resolve().parents[2] / "conf" / "corpus"
SEPARATOR = "/"
EXAMPLE = "corpus.parts=[{name: emodb, root: PATH}, {name: demo}]"


def corpus_names() -> list[str]:
    """The corpus configs a part can name (every `conf/corpus/*.yaml` except multi itself)."""
    return sorted(p.stem for p in CORPUS_CONF.glob("*.yaml") if p.stem != NAME)


def compose_part(index: int, part: Mapping, parent: DictConfig | None = None) -> dict:
    """One part as a complete, resolved corpus config: `conf/corpus/<name>.yaml` with the part's keys
    merged on top. `parent` (the `corpus` node of a composed config) resolves interpolations such as
    the demo's `${paths.cache_dir}`. Composing an already composed part gives it back unchanged.

    Raises a one-line ValueError for a part without a name, an unknown corpus, a key that corpus's
    config does not have, and a setting left unset (`???`).
    """
    where = f"corpus.parts[{index}]"
    raw = OmegaConf.to_container(part, resolve=True) if isinstance(part, DictConfig) else part
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise ValueError(f"{where} needs a name: write {EXAMPLE}")
    name = str(raw["name"])
    choices = corpus_names()
    if name not in choices:
        hint = "a part cannot itself be multi" if name == NAME else f"choose one of {', '.join(choices)}"
        raise ValueError(f"{where}: unknown corpus {name!r}: {hint}")
    base = OmegaConf.load(CORPUS_CONF / f"{name}.yaml")
    valid = [str(k) for k in base] + ["alias"]
    for key in raw:
        if key not in valid:
            nearest = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f"did you mean {nearest[0]}?" if nearest else f"valid keys: {', '.join(valid)}"
            raise ValueError(
                f"{where}.{key} is not a setting of corpus {name} (conf/corpus/{name}.yaml): {hint}"
            )
    merged = OmegaConf.merge(base, {k: v for k, v in raw.items() if k != "alias"})
    node = OmegaConf.create(OmegaConf.to_container(merged), parent=parent)
    missing = [str(k) for k in node if OmegaConf.is_missing(node, k)]
    if missing:
        raise ValueError(
            f"{where} (corpus {name}) needs {missing[0]}: write {{name: {name}, {missing[0]}: PATH}}"
        )
    try:
        resolved: dict = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "the key"
        first = str(err).splitlines()[0]
        raise ValueError(f"{where} (corpus {name}): {first}: give {key} in the part") from None
    resolved["alias"] = str(raw.get("alias", name))
    return resolved


def compose_parts(parts: Sequence[Mapping] | ListConfig, parent: DictConfig | None = None) -> list[dict]:
    """Every part composed (`compose_part`), checking that their names (aliases) are distinct."""
    if isinstance(parts, (str, Mapping)) or not isinstance(parts, (Sequence, ListConfig)) or not len(parts):
        raise ValueError(f"corpus.parts must be a list of corpus configs: write {EXAMPLE}")
    composed = [compose_part(i, part, parent) for i, part in enumerate(parts)]
    seen: set[str] = set()
    for part in composed:
        if part["alias"] in seen:
            raise ValueError(
                f"corpus.parts: two parts are called {part['alias']}: give one of them alias=OTHER_NAME, "
                f"e.g. {{name: {part['name']}, alias: {part['alias']}2, ...}}"
            )
        seen.add(part["alias"])
    return composed


def combine(parts: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """One manifest from (name, manifest) pairs: ids, speakers and groups prefixed with the name,
    the `corpus` column set to it, each part's skipped items kept with the same prefix."""
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for name, df in parts:
        frame = df.copy()
        for col in ("utterance_id", "speaker", "group"):
            frame[col] = f"{name}{SEPARATOR}" + frame[col].astype(str)
        frame["corpus"] = name
        rows += frame.to_dict("records")
        # skipped ids take the prefix; skipped files (absolute paths) are shown as `name: path`
        skipped += [(f"{name}: {item}" if Path(item).is_absolute() else f"{name}{SEPARATOR}{item}", reason)
                    for item, reason in df.attrs.get("skipped", [])]  # fmt: skip
    combined = make_manifest(rows, skipped)
    check_manifest(combined, source=NAME)
    return combined


def read(parts: Sequence[Mapping]) -> pd.DataFrame:
    """Read every part (corpus configs as `compose_part` takes them) into one prefixed manifest."""
    return combine([(part["alias"], read_configured(part)) for part in compose_parts(parts)])
