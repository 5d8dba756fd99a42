"""Data and feature analysis of a corpus under a label set: `python -m ser.analysis [overrides]`.

    from ser.analysis import write_analysis
    write_analysis(cfg, out_dir)   # cfg composed from conf/analysis.yaml

Modules: `measures` (duration, F0, energy, speaking-rate proxies per utterance from frame-level
descriptors), `ranking` (Kruskal-Wallis H / ANOVA F per functional), `result` (the settings and the
computed `Analysis`), `plots` (drawing), `outputs` (which figures, captions and summary lines),
`page` (index.html and report.md), `write` (the flow: `analyse(cfg)`, `write_analysis(cfg, out)`).
"""

from ser.analysis.write import write_analysis

__all__ = ["write_analysis"]
