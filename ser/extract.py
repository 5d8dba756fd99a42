"""Fill a feature cache ahead of training, one shard per process: `python -m ser.extract shard=K/N ...`.

Composes `conf/extract.yaml` (corpus, labels, features, paths, trainer) and extracts the features
`python train.py` with the same settings will read: the labelled manifest is the same, so the cache
key is the same. The ssl view (`ser.features.ssl`) is written in chunks; shard K of N computes the
chunks c with c % N == K - 1, so N processes or SLURM array tasks (`-m hydra/launcher=slurm
shard=1/4,2/4,3/4,4/4`) fill one cache without clashing, and a killed one resumes where it stopped.
`python -m ser.features --shard K/N key=value ...` is the same call without Hydra's launcher.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from ser.cli import run, user_errors
from ser.features.ssl import ShardSpec, extract_ssl_view, is_ssl_view
from ser.fold import feature_config, load_labelled

log = logging.getLogger(__name__)


def extract_shard(cfg: DictConfig) -> bool:
    """Compute this process's shard of the configured view's cache; returns whether the cache is complete."""
    shard = ShardSpec.parse(str(cfg.get("shard", "1/1")))
    view = feature_config(cfg)
    if not is_ssl_view(view):
        raise ValueError(f"shard={shard.k}/{shard.n}: sharded extraction is for features=ssl (got features={view['view']}); "
                         "the other views extract in parallel on one machine with jobs=N")  # fmt: skip
    labelled, _ = load_labelled(cfg)
    features = extract_ssl_view(labelled, view, cache_dir=cfg.paths.cache_dir, shard=(shard.k, shard.n))
    complete = features is not None
    log.info(
        "shard %d/%d done; cache %s", shard.k, shard.n, "complete" if complete else "waiting for other shards"
    )
    return complete


@hydra.main(config_path="../conf", config_name="extract", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> bool:
    return extract_shard(cfg)


if __name__ == "__main__":
    run(main)
