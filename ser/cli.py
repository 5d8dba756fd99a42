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
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from ser.config import setting_names, unknown_setting_message

USER_ERRORS = (ConfigCompositionException, MissingConfigException, OmegaConfBaseException, ValueError, FileNotFoundError)
# Read once, before `run` sets the variable for its own use: did the user ask for tracebacks?
SHOW_TRACEBACKS = os.environ.get("HYDRA_FULL_ERROR") == "1"


def one_line(err: BaseException) -> str:
    """The message of a configuration error as one line, with the nearest valid key for a typo."""
    cause = err.__cause__ if err.__cause__ is not None else err
    if isinstance(cause, MissingMandatoryValue) and getattr(cause, "full_key", None):
        return f"{cause.full_key} is required: pass {cause.full_key}=..."
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
            fail(err)

    return wrapper


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
