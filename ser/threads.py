"""How many threads torch computes with inside one process: the `threads` setting.

Torch starts one intra-op thread per core, and its OpenMP threads meet at a barrier at the end of
every parallel operation. When another process keeps a core busy, the thread that lost its core
holds the others up at each of the thousands of small operations of a training step: on a 2-core
machine next to one busy job the default dnn's fit went from 0.7 s to 30-50 s. One thread has no
one to wait for. `benchmarks/bench_threads.py` measures it (README, "Measured results").

`threads: auto` (the default of `train.py` and `evaluate.py`, and of `ser.load`) applies
`choose_threads("auto")`; an int applies exactly that; null leaves torch's own default.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

# `threads: auto` never uses more: the nets here are small (a few ms a step on the CPU), and beyond
# a few threads the barriers cost more than the extra cores bring.
AUTO_CAP = 4


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def choose_threads(setting: int | str, cores: int | None = None) -> int:
    """The intra-op thread count for `threads=setting`: a whole number N >= 1 means N; `auto` leaves
    one of the process's `cores` free, at most AUTO_CAP, so one thread on two cores. Raises
    ValueError with a one-line message for anything else."""
    cores = available_cores() if cores is None else max(1, int(cores))
    if isinstance(setting, str) and setting.strip().lower() == "auto":
        # The free core is for data loading, logging and whatever else shares the machine: with
        # fewer threads than cores, a busy neighbour costs a thread its core far less often.
        return max(1, min(cores - 1, AUTO_CAP))
    try:
        count = int(setting)
    except (TypeError, ValueError):
        count = 0
    if isinstance(setting, bool) or count < 1 or str(setting).strip() != str(count):
        raise ValueError(f"threads={setting!r} is not a thread count: use threads=auto, a whole number >= 1, or null")
    return count


def set_torch_threads(setting: int | str | None) -> int:
    """Apply `threads=setting` to torch: intra-op threads, and inter-op threads where torch still
    allows it. None (`threads=null`) leaves torch as it is. Returns the intra-op count in use."""
    if setting is None:
        return torch.get_num_threads()
    count = choose_threads(setting)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    if torch.get_num_interop_threads() != count:
        try:
            # Torch refuses this once inter-op work has started (or it was set before): it can only
            # be set early in a process. The intra-op count above is the one that matters here.
            torch.set_num_interop_threads(count)
        except RuntimeError:
            pass
    log.debug("torch threads: %d intra-op, %d inter-op", torch.get_num_threads(), torch.get_num_interop_threads())
    return count
