"""Tables and plots: labels that fit, no spread for a single run, legends that list only what is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ser.render import learning_curve_panels, plot_confusion, plot_leaderboard, summary_markdown, wrap_label

LONG = "corpus.path=my_corpus.csv,data.batch_size=32,features.n_mels=128,model=cnn,optim.lr=0.01,optim=sgd"


def summary_row(configuration: str, runs: int, std: float) -> dict:
    row = {"configuration": configuration, "runs": runs, "pooled/wa": 0.5, "pooled/ua": 0.5}
    for metric in ("test/wa", "test/ua", "test/macro_f1"):
        row[f"{metric}_mean"], row[f"{metric}_std"] = 0.5, std
    return row


def test_wrap_label_breaks_after_commas_and_keeps_every_character() -> None:
    wrapped = wrap_label(LONG, width=30)
    lines = wrapped.split("\n")
    assert len(lines) > 2 and all(len(line) <= 30 + 12 for line in lines)
    assert wrapped.replace("\n", "") == LONG  # nothing lost or added
    assert wrap_label("model=svm") == "model=svm"


def test_a_single_run_prints_no_spread() -> None:
    table = pd.DataFrame([summary_row("model=svm", 1, float("nan")), summary_row("model=dnn", 3, 0.0123)])
    lines = summary_markdown(table).splitlines()
    assert "| 0.500 ± - |" in lines[2] and "0.000" not in lines[2]
    assert "| 0.500 ± 0.012 |" in lines[3]


def test_learning_curves_leave_out_final_figures(tmp_path: Path) -> None:
    log = tmp_path / "metrics.csv"
    log.write_text(
        "epoch,step,train/loss,val/loss,val/ua,final/val/ua,final/test/ua\n"
        "0,1,1.3,1.2,0.4,,\n1,2,1.0,1.1,0.5,,\n,3,,,,0.5,0.4\n"
    )
    panels = dict(learning_curve_panels(log))
    assert list(panels) == ["loss", "UA"]
    assert list(panels["loss"]) == ["train/loss", "val/loss"] and list(panels["UA"]) == ["val/ua"]
    assert panels["UA"]["val/ua"].tolist() == [0.4, 0.5]
    assert learning_curve_panels(tmp_path / "absent.csv") == []


def test_plots_with_long_labels_are_written(tmp_path: Path) -> None:
    table = pd.DataFrame([summary_row(LONG, 2, 0.05), summary_row("model=svm", 1, float("nan"))])
    assert plot_leaderboard(table, tmp_path / "board.png").stat().st_size > 0
    y = np.array([0, 1, 2, 3, 0, 1])
    assert plot_confusion(y, y, ["neu", "hap", "sad", "ang"], tmp_path / "cm.png", title=LONG).stat().st_size > 0
