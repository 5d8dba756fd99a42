"""The `threads` setting: how many intra-op threads torch gets (ser.threads)."""

from __future__ import annotations

import os

import pytest
import torch

from ser.threads import AUTO_CAP, available_cores, choose_threads, set_torch_threads


def test_a_number_means_that_many_threads() -> None:
    assert choose_threads(3) == 3
    assert choose_threads("2", cores=1) == 2  # an explicit count is the user's call, even above the cores


def test_auto_leaves_a_core_free_within_the_cap() -> None:
    assert [choose_threads("auto", cores=n) for n in (1, 2, 3, 4, 8, 64)] == [1, 1, 2, 3, AUTO_CAP, AUTO_CAP]
    here = choose_threads("auto")
    assert 1 <= here <= len(os.sched_getaffinity(0)) == available_cores()


@pytest.mark.parametrize("bad", [0, -1, "2.5", 2.5, "many", "", True])
def test_a_bad_value_is_a_one_line_error(bad: object) -> None:
    with pytest.raises(ValueError, match=r"threads=.* is not a thread count: use threads=auto") as err:
        choose_threads(bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_set_torch_threads_applies_the_setting_and_null_leaves_it() -> None:
    before = torch.get_num_threads()
    try:
        assert set_torch_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_torch_threads("auto") == torch.get_num_threads() == choose_threads("auto")
        torch.set_num_threads(2)
        assert set_torch_threads(None) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_train_applies_the_setting_first(compose_config, tmp_path) -> None:
    """A bad `threads` stops `train` before any data is read (train.py turns it into one line)."""
    from ser.train import train

    cfg = compose_config(["threads=many", f"paths.cache_dir={tmp_path / 'no_cache'}"], out_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=r"threads='many' is not a thread count"):
        train(cfg)
    assert not (tmp_path / "no_cache").exists()
