"""The structure the code promises: no import circles, entry points that use the library's layers,
one registry through which every model family trains, reloads and predicts, and configs that
reject a misspelt key with one line naming the key meant."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser.config import ConfigError
from ser.models import FAMILIES, get_family
from ser.train import train

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ser"
ENTRY_POINTS = [ROOT / "train.py", ROOT / "evaluate.py", ROOT / "ensemble.py"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ser_imports(path: Path, modules: set[str]) -> set[str]:
    """The `ser` modules a file imports (anywhere in it, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from ser.models import neural` imports the module ser.models.neural, not just the package
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
        else:
            continue
        found |= {n for n in names if n == "ser" or n.startswith("ser.")}
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): ser_imports(f, modules) & modules for f in files}


def test_no_import_circle_among_ser_modules() -> None:
    graph = import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, [*path, module])
        done.add(module)

    assert len(graph) > 30  # the walk saw the package
    for module in sorted(graph):
        visit(module, [])


def test_render_is_a_leaf_and_entry_points_never_import_ser_train() -> None:
    graph = import_graph()
    assert graph["ser.render"] == set()
    modules = set(graph)
    for path in [*ENTRY_POINTS[1:], PACKAGE / "evaluate.py", PACKAGE / "ensemble.py", PACKAGE / "reports.py"]:
        assert "ser.train" not in ser_imports(path, modules), path


def test_no_family_tables_outside_the_registry() -> None:
    """train, evaluate and ensemble reach the families through `ser.models` only: they import no
    family module and resolve nothing by name with importlib."""
    modules = set(import_graph())
    for path in [PACKAGE / "train.py", PACKAGE / "evaluate.py", PACKAGE / "ensemble.py"]:
        imported = ser_imports(path, modules)
        assert not imported & {"ser.models.neural", "ser.models.classical"}, path
        tree = ast.parse(path.read_text())
        plain = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "importlib" not in plain, path


# A quick model of each registered family; a new family must add one here.
QUICK_MODEL = {
    "neural": ["model=dnn", "trainer.max_epochs=3"],
    "classical": ["model=svm"],  # per-speaker standardisation: statistics saved with the model
}


def test_every_registered_family_has_a_quick_model_here() -> None:
    assert set(QUICK_MODEL) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(QUICK_MODEL))
def test_every_family_trains_reloads_and_predicts_through_the_registry(
    family: str, train_run, tmp_path: Path, one_torch_thread
) -> None:
    from ser.fold import prepare_fold
    from ser.runs import load_run_config

    small = [f"paths.cache_dir={tmp_path / 'cache'}", "corpus.utterances_per_speaker=12", "jobs=1",
             "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]  # fmt: skip
    metrics = train_run([*small, *QUICK_MODEL[family]], tmp_path / "run")
    cfg = load_run_config(tmp_path / "run")
    assert cfg.model.family == family and 0.0 <= metrics["test/ua"] <= 1.0
    registered = get_family(family)
    model = registered.load(tmp_path / "run")
    data = prepare_fold(cfg)
    rows = data.split.test
    probs = registered.predict_proba(model, data.manifest.iloc[rows].reset_index(drop=True), data.features.subset(rows))
    saved = pd.read_csv(tmp_path / "run" / "predictions.csv", dtype={"utterance_id": str})
    assert saved["utterance_id"].tolist() == [data.features.ids[i] for i in rows]
    np.testing.assert_allclose(probs, saved[[f"prob_{c}" for c in data.classes]].to_numpy(), atol=1e-6)


def test_unknown_family_names_the_choices() -> None:
    with pytest.raises(ValueError, match="model.family='nn' is unknown: choose one of neural, classical"):
        get_family("nn")


# ------------------------------------------------------------------ configs that reject typos


@pytest.mark.parametrize(
    ("override", "meant"),
    [("+features.n_mel=40", "features.n_mels"), ("+split.fodl=2", "split.fold"), ("+data.batchsize=8", "data.batch_size"),
     ("+data.spec_augment.time_wdth=3", "data.spec_augment.time_width")],
)  # fmt: skip
def test_force_added_unknown_key_stops_training_before_it_starts(compose_config, override: str, meant: str) -> None:
    model = ["model=cnn"] if "spec_augment" in override else []
    cfg = compose_config([*model, override])
    with pytest.raises(ConfigError, match=rf"^{override[1:].split('=')[0]} is not a setting: did you mean {meant}\?$"):
        train(cfg)


def test_unknown_key_without_plus_fails_at_composition(compose_config) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config(["split.fodl=2"])


@pytest.mark.parametrize(
    ("override", "line"),
    [("+features.n_mel=40", "error: features.n_mel is not a setting: did you mean features.n_mels?"),
     ("split.fodl=2", "error: split.fodl is not a setting: did you mean split.fold?"),
     ("model=svn", "error: In 'train': Could not find 'model/svn'; available options in 'model': cnn, dnn,")],
)  # fmt: skip
def test_train_py_typo_is_one_line_and_exit_code_2(override: str, line: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "train.py", override, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[0]] and proc.stderr.startswith(line), proc.stderr
