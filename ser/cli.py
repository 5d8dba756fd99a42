"""How the entry points end on a user's mistake: one line on stderr and exit code 2, no traceback.

Two places can fail: Hydra's composition of the config (an unknown key, a missing group option),
which it reports in several lines plus a hint, and the job itself (`ser` raises `ValueError` /
`FileNotFoundError` with one-line messages for bad settings and paths, `ser.config.ConfigError`
for a force-added unknown key). `run(main)` handles the first, `@user_errors` on the task function
the second. An unknown key becomes `features.n_mel is not a setting: did you mean features.n_mels?`.
With `HYDRA_FULL_ERROR=1` set by the user, everything propagates with its full traceback.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from ser.config import setting_names, unknown_setting_message

USER_ERRORS = (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
    OmegaConfBaseException,
    ValueError,
    FileNotFoundError,
)
# What to pass for the mandatory settings of the entry points (`???` in conf/).
REQUIRED_HINTS = {
    "run": "run=RUN_DIR, the folder of one finished train.py run (e.g. outputs/train/<date>_<model>_loso1)",
    "runs": "runs=[RUN_A,RUN_B] (train.py run folders) or runs=MULTIRUN_DIR (a train.py -m folder)",
}
# Read once, before `run` sets the variable for its own use: did the user ask for tracebacks?
SHOW_TRACEBACKS = os.environ.get("HYDRA_FULL_ERROR") == "1"


def one_line(err: BaseException) -> str:
    """The message of a configuration error as one line, with the nearest valid key for a typo."""
    cause = err.__cause__ if err.__cause__ is not None else err
    if isinstance(cause, MissingMandatoryValue) and getattr(cause, "full_key", None):
        key = str(cause.full_key)
        return f"{key} is required: pass {REQUIRED_HINTS.get(key, key + '=...')}"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None) and "not in" in str(cause):
        # an unknown key: offer the nearest one of the node's schema, or of the node's own keys
        object_type, parent = getattr(cause, "object_type", None), getattr(cause, "parent_node", None)
        valid = None
        if object_type is not None and hasattr(object_type, "__dataclass_fields__"):
            valid = setting_names(object_type)
        elif isinstance(parent, DictConfig):
            valid = [str(k) for k in parent.keys()]
        if valid is not None:
            return unknown_setting_message(str(cause.full_key), valid)
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, OverrideParseException):
        # "Error parsing override 'foo'" + the parser's detail + a link: keep the first two
        detail = f" ({lines[1]})" if len(lines) > 1 and not lines[1].startswith("See ") else ""
        return f"{lines[0].replace('Error parsing', 'cannot parse')}{detail}: write overrides as key=value, e.g. model=svm"
    if isinstance(err, MissingConfigException) and len(lines) > 1 and lines[1].startswith("Available options"):
        # "Could not find 'model/svn'" + the options, without Hydra's search path
        options = [o for o in lines[2:] if not o.startswith(("Config search path", "provider="))]
        return f"{lines[0]}; {lines[1].rstrip(':').lower()}: {', '.join(options)}"
    return " ".join(lines)


def fail(err: BaseException) -> NoReturn:
    """Print `error: <one line>` on stderr and exit with code 2."""
    print(f"error: {one_line(err)}", file=sys.stderr)
    sys.exit(2)


def user_errors(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate a Hydra task function: a user error inside the job ends it in one line (exit code 2)."""

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except USER_ERRORS as err:
            if SHOW_TRACEBACKS:
                raise
            remove_empty_run_dir()
            fail(err)

    return wrapper


# What Hydra writes into a run (and sweep) folder before the job does anything, and what the loggers
# write as soon as they record the config (CSV's hparams.yaml, TensorBoard's first event file).
_BOOKKEEPING = (".hydra", "multirun.yaml", "hparams.yaml")


def _holds_results(folder: Path) -> bool:
    """Whether `folder` holds any file besides Hydra's and the loggers' bookkeeping (.hydra/,
    multirun.yaml, *.log, hparams.yaml, events.out.tfevents.*)."""
    for item in folder.iterdir():
        bookkeeping = item.name in _BOOKKEEPING or item.name.startswith("events.out.tfevents.")
        if bookkeeping or (item.is_file() and item.suffix == ".log"):
            continue
        if item.is_file() or _holds_results(item):
            return True
    return False


def remove_empty_run_dir() -> None:
    """After a failed job, remove its Hydra output folder when the job wrote nothing into it, then
    each parent up to the working directory that is left empty (a sweep folder: holding only its
    multirun.yaml). Other runs' folders are never touched: a failed call leaves no empty folders."""
    if not HydraConfig.initialized():
        return
    folder = Path(HydraConfig.get().runtime.output_dir).resolve()
    stop = Path.cwd().resolve()
    if stop not in folder.parents or not folder.is_dir() or _holds_results(folder):
        return
    shutil.rmtree(folder)
    folder = folder.parent
    while folder != stop and stop in folder.parents and all(item.name == "multirun.yaml" for item in folder.iterdir()):
        shutil.rmtree(folder)
        folder = folder.parent


def run(main: Callable[[], Any]) -> None:
    """Run a `@hydra.main` function; a composition error ends in one line and exit code 2."""
    if SHOW_TRACEBACKS:
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let composition errors reach this function instead of Hydra's report
    try:
        main()
    except USER_ERRORS as err:
        fail(err)
