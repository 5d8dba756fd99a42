"""`python -m ser.corpora [corpus=emodb corpus.root=PATH] [labels=emodb7]`: print the data report."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from ser.cli import USER_ERRORS, one_line
from ser.corpora import load_corpus
from ser.corpora.report import data_report
from ser.labels import LabelSet, apply_labels

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def main(argv: list[str]) -> int:
    """Compose `conf/data_report.yaml` with Hydra overrides from `argv` and print the report."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("data_report", overrides=argv)
        manifest = load_corpus(cfg.corpus)
        labelled, classes = apply_labels(manifest, LabelSet.from_config(cfg.labels))
    except USER_ERRORS as err:  # a misspelt setting, a bad path or file: one line, as train.py says it
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    print(data_report(labelled, classes, cfg.corpus.name, cfg.labels.name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
