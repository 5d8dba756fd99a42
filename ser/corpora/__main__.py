"""`python -m ser.corpora [corpus=emodb corpus.root=PATH] [labels=emodb7]`: print the data report."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

from hydra import compose, initialize_config_dir

from ser.cli import SHOW_TRACEBACKS, USER_ERRORS, one_line
from ser.corpora import load_corpus
from ser.corpora.report import data_report
from ser.labels import LabelSet, apply_labels

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def usage() -> str:
    """The --help text, with the corpus and label-set options that conf/ holds."""
    corpora = ", ".join(sorted(p.stem for p in (CONF_DIR / "corpus").glob("*.yaml")))
    label_sets = ", ".join(sorted(p.stem for p in (CONF_DIR / "labels").glob("*.yaml")))
    return (
        "usage: python -m ser.corpora [corpus=NAME] [corpus.KEY=VALUE ...] [labels=NAME]\n"
        "\n"
        "Print the data report of a corpus: utterances per class and group, duration, speakers, and every\n"
        "row the reader or the label set skipped, with its reason.\n"
        "\n"
        f"  corpus=NAME     one of {corpora} (default demo)\n"
        "                  the corpora read from a folder need corpus.root=PATH, manifest needs corpus.path=FILE.csv\n"
        "                  iemocap and demo take corpus.subset=improvised|scripted|all (default all),\n"
        "                  ravdess corpus.subset=speech|song|all (default speech), msp_podcast corpus.test_set=Test1|...\n"
        "                  multi takes corpus.parts='[{name: emodb, root: PATH}, {name: demo}]' (several at once)\n"
        f"  labels=NAME     one of {label_sets} (default iemocap4)\n"
        "\n"
        "examples:\n"
        "  python -m ser.corpora corpus=emodb corpus.root=../shared/data/emodb labels=emodb7\n"
        "  python -m ser.corpora corpus=manifest corpus.path=my_corpus.csv labels=all"
    )


def main(argv: list[str]) -> int:
    """Compose `conf/data_report.yaml` with Hydra overrides from `argv` and print the report."""
    if any(arg in ("-h", "--help", "help") for arg in argv):
        print(usage())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("data_report", overrides=argv)
        manifest = load_corpus(cfg.corpus)
        label_set = LabelSet.from_config(cfg.labels)
        # the report shows classes without utterances (as zero rows) instead of stopping at them
        labelled, kept = apply_labels(manifest, replace(label_set, empty_classes="drop"))
    except USER_ERRORS as err:
        if SHOW_TRACEBACKS:
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    classes = list(label_set.classes) or kept
    corpus_name = str(cfg.corpus.name)
    if cfg.corpus.get("subset", "all") != "all":
        corpus_name += f" subset={cfg.corpus.subset}"
    report = data_report(labelled, classes, corpus_name, cfg.labels.name)
    empty = [c for c in classes if c not in kept]
    if empty:
        effect = "left out of training" if label_set.empty_classes == "drop" else "train.py stops at them unless labels.empty_classes=drop"
        report += f"\nno utterance for class(es) {', '.join(empty)}: {effect}"
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
