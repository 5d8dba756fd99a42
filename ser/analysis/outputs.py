"""What an analysis folder shows: the figures drawn from an `Analysis`, the page's summary lines and
its sections (captions that say how each figure was made)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ser.analysis.measures import MEASURES
from ser.analysis.page import Section
from ser.analysis.plots import plot_counts, plot_measures, plot_top_functionals
from ser.analysis.ranking import STATISTICS
from ser.analysis.result import Analysis
from ser.corpora.manifest_schema import skipped_counts

STATISTIC_NAMES = {"kruskal": "Kruskal-Wallis H", "anova": "one-way ANOVA F"}
EFFECT_WORDS = {
    "kruskal": "epsilon² = H / (n - 1)",
    "anova": "eta² (the between-class share of the variance)",
}
EFFECT_SYMBOLS = {"kruskal": "ε²", "anova": "η²"}
# Each figure: file, measure columns (one panel each), title, one box per gender.
MEASURE_FIGURES = [
    ("duration.png", ["duration_s"], "Duration per class", False),
    ("f0.png", ["f0_median_hz", "f0_range_st"], "F0 per class and gender", True),
    ("energy.png", ["level_db", "level_std_db"], "Energy per class", False),
    (
        "speaking_rate.png",
        ["voiced_segments_per_s", "energy_peaks_per_s"],
        "Speaking-rate proxies per class",
        False,
    ),
]
FUNCTIONALS = ("mean", "std", "min", "max", "slope")
# Units of the frame descriptors behind the acoustic view's functionals (`<descriptor>_<functional>`).
DESCRIPTOR_UNITS = {
    "f0": "Hz", "centroid": "Hz", "rolloff": "Hz", "rms_db": "dBFS", "hnr_db": "dB", "rms": "amplitude",
    "zcr": "crossings per sample", "flatness": "flatness (0-1)",
}  # fmt: skip
PREFIX_UNITS = {"mel": "dB", "contrast": "dB", "chroma": "chroma energy (0-1)"}
SCALAR_UNITS = {"voicing_ratio": "share of frames", "signal_abs_mean": "amplitude", "signal_std": "amplitude"}


def functional_unit(name: str) -> str:
    """The unit of a functional of the acoustic view (`f0_p90` -> Hz, `rms_db_slope` -> dBFS/s),
    or "value" for columns it does not know (other views)."""
    if name in SCALAR_UNITS:
        return SCALAR_UNITS[name]
    descriptor, _, functional = name.rpartition("_")
    percentile = functional.startswith("p") and functional[1:].replace(".", "", 1).isdigit()
    if not descriptor or not (functional in FUNCTIONALS or percentile):
        return "value"
    unit = DESCRIPTOR_UNITS.get(descriptor) or next(
        (u for p, u in PREFIX_UNITS.items() if descriptor.startswith(p)), ""
    )
    if descriptor.startswith("mfcc"):  # cepstra of the dB mel spectrum; deltas per frame
        unit = (
            "MFCC delta-delta (per frame²)"
            if descriptor.endswith("_dd")
            else "MFCC delta (per frame)"
            if descriptor.endswith("_d")
            else "MFCC (dB scale)"
        )
    if functional == "slope":
        return f"{unit}/s" if unit else "per s"
    return unit or "value"


def shown_ranking(top: pd.DataFrame, score_name: str, effect_name: str) -> pd.DataFrame:
    """The page's ranking table: rank, functional, statistic, p-value and effect size, as text."""
    return pd.DataFrame({
        "rank": top["rank"], "functional": top["functional"], score_name: top[score_name].map("{:.1f}".format),
        "p_value": top["p_value"].map("{:.2g}".format), effect_name: top[effect_name].map("{:.3f}".format),
    })  # fmt: skip


def _skipped_line(manifest: pd.DataFrame) -> str:
    counts = skipped_counts(manifest)
    if not counts:
        return "skipped rows: none"
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{reason}: {n}" for reason, n in top[:5]) + (", ..." if len(top) > 5 else "")
    return f"skipped rows: {sum(counts.values())} ({shown}); python -m ser.corpora lists them"


def write_figures(analysis: Analysis, out: Path) -> list[Path]:
    """Draw every figure of the page into `out`; returns their paths."""
    a, where = analysis, f"{analysis.corpus}, labels={analysis.label_set}"
    paths = []
    for file, columns, title, by_gender in MEASURE_FIGURES:
        panels = {c: MEASURES[c] for c in columns}
        paths.append(
            plot_measures(a.measures, panels, a.classes, out / file, f"{title} ({where})", by_gender)
        )
    top = a.ranking.head(a.settings.top)
    score_name, effect_name = STATISTICS[a.settings.statistic]
    symbol = EFFECT_SYMBOLS[a.settings.statistic]
    notes = [
        f"{score_name} = {s:.1f}, {symbol} = {e:.2f}"
        for s, e in zip(top[score_name], top[effect_name], strict=True)
    ]
    if a.settings.normalize == "speaker":
        units = ["z-score within speaker"] * len(top)
    else:
        units = [functional_unit(name) for name in top["functional"]]
    columns = [a.names.index(name) for name in top["functional"]]
    paths.append(plot_top_functionals(
        a.functionals[:, columns], list(top["functional"]), notes, units, a.manifest["class_name"].to_numpy(),
        a.classes, out / "top_functionals.png", f"The {len(top)} functionals that separate the classes best ({where})",
    ))  # fmt: skip
    # a speaker's gender next to the id, where the corpus records it
    speakers = a.manifest["speaker"].astype(str)
    genders = a.manifest.groupby(speakers)["gender"].agg(
        lambda g: "/".join(sorted({v for v in g if isinstance(v, str) and v}))
    )
    notes = {spk: g for spk, g in genders.items() if g and not spk.endswith(g)}  # Ses01_F says it already
    title = f"Utterances per class and speaker ({where})"
    paths.append(plot_counts(a.counts, out / "class_speaker_counts.png", title, notes=notes))
    return paths


def summary_lines(analysis: Analysis, command: str | None = None) -> list[str]:
    """The page's opening facts: what was analysed, how, and the command that made it."""
    a = analysis
    m, fc = a.manifest, a.frame_config
    hours = pd.to_numeric(m["duration"], errors="coerce").sum() / 3600
    class_names = m["class_name"]
    lines = [
        f"corpus {a.corpus}, label set {a.label_set}: {len(m)} utterances, {m['speaker'].nunique()} speakers, "
        f"{hours:.2f} h of audio",
        "classes: " + ", ".join(f"{c} {int((class_names == c).sum())}" for c in a.classes),
        _skipped_line(m),
        f"functionals: view {a.view}, {len(a.names)} columns; prosodic measures from the sequence view (hop "
        f"{a.hop_s * 1000:g} ms, F0 search {fc.get('f0_min', 60):g}-{fc.get('f0_max', 500):g} Hz)",
        f"ranking: {STATISTIC_NAMES[a.settings.statistic]} over {len(a.classes)} classes"
        + (", functionals z-scored within each speaker first" if a.settings.normalize == "speaker" else ""),
    ]
    return lines + ([f"command: {command}"] if command else [])


def page_sections(analysis: Analysis) -> list[Section]:
    """The page's sections, in order, each with its caption."""
    a, rate = analysis, analysis.settings.rate
    statistic = a.settings.statistic
    score_name, effect_name = STATISTICS[statistic]
    top = a.ranking.head(a.settings.top)
    best = a.ranking.iloc[0]
    return [
        Section(
            "Duration",
            "Duration of the utterances per class (boxes: quartiles, whiskers: 1.5 IQR, dots: beyond). A class "
            "much longer or shorter than the others is a cue a model can learn without any emotion in it.",
            "duration.png",
        ),
        Section(
            "F0",
            "Median F0 of the voiced frames (YIN) and F0 range from the 10th to the 90th percentile in "
            "semitones, per class and, where the corpus records it, per gender (F0 level differs by about an "
            "octave between female and male voices).",
            "f0.png",
        ),
        Section(
            "Energy",
            "Mean RMS level of the voiced frames in dB re full scale, and its standard deviation within the "
            "utterance. Levels compare across classes only if the recording gain was the same for all.",
            "energy.png",
        ),
        Section(
            "Speaking rate",
            "Two proxies without transcripts, per second of the whole utterance (pauses included): voiced "
            f"segments (runs of voiced frames of at least {rate.min_voiced_ms:g} ms, gaps up to "
            f"{rate.max_gap_ms:g} ms bridged) and energy peaks (peaks of the RMS envelope smoothed over "
            f"{rate.smooth_ms:g} ms, at least {rate.peak_prominence_db:g} dB prominent, {rate.peak_distance_ms:g} ms "
            "apart, on voiced frames: syllable nuclei).",
            "speaking_rate.png",
        ),
        Section(
            "Most discriminative functionals",
            f"The {len(top)} functionals of the {a.view} view with the largest {STATISTIC_NAMES[statistic]} "
            f"across classes, computed on all {len(a.manifest)} utterances; effect size {EFFECT_WORDS[statistic]}. "
            "Violins: density per class, black bar: median; each y axis spans the 0.5-99.5th percentile. "
            f"Best: {best['functional']} ({score_name} = {best[score_name]:.1f}, p = {best['p_value']:.2g}).",
            "top_functionals.png",
            shown_ranking(top, score_name, effect_name),
            "ranking.csv",
        ),
        Section(
            "Class x speaker counts",
            "Utterances per class and speaker (totals in the labels). Leave-one-speaker-out test folds inherit "
            "these counts: a speaker without a class cannot test it.",
            "class_speaker_counts.png",
            table_file="class_speaker_counts.csv",
        ),
        Section(
            "Per-utterance measures", "Every measure above for every utterance.", table_file="utterances.csv"
        ),
    ]
