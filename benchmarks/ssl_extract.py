"""Speed of the ssl view: encode the demo corpus with a randomly initialised encoder of a real size.

    python benchmarks/ssl_extract.py [--size tiny|base] [--device cpu|cuda] [--batch-size N] [--per-speaker N]
    python benchmarks/ssl_extract.py --size tiny --save FOLDER    (only write the random encoder's folder)

Builds a WavLM of the chosen size from a `transformers` config (random weights: the speed of a real
checkpoint of that size, no download), saves it as a Hugging Face folder, and extracts the ssl view
of the demo corpus into a fresh cache through the real code. Ends with one line on stdout:
`clips=N audio_s=X wall_s=Y x_realtime=Z`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

SIZES = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "conv_dim": (32, 32, 32), "conv_stride": (5, 8, 8), "conv_kernel": (10, 8, 8),
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2},
    "base": {},  # WavLMConfig's defaults are WavLM-base: 12 layers, 768 wide, 94 M parameters
}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument(
        "--per-speaker", type=int, default=48, help="demo utterances per speaker (48: the full demo)"
    )
    ap.add_argument(
        "--threads", default="auto", help="torch threads: auto (as train.py: 1 on two cores), N, or default"
    )
    ap.add_argument("--save", help="write the random encoder's Hugging Face folder here and stop")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    import torch
    import transformers as tf

    from ser.corpora import load_corpus
    from ser.features import extract_view
    from ser.threads import set_torch_threads

    set_torch_threads(
        None if a.threads == "default" else (int(a.threads) if a.threads.isdigit() else a.threads)
    )

    def save(folder: Path) -> None:
        torch.manual_seed(0)
        tf.WavLMModel(tf.WavLMConfig(**SIZES[a.size])).eval().save_pretrained(folder)
        tf.Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(folder)

    if a.save:
        save(Path(a.save))
        print(f"wrote a random WavLM ({a.size}) to {a.save}")
        return 0
    with tempfile.TemporaryDirectory(prefix="ser-ssl-bench-") as tmp:
        folder = Path(tmp) / f"wavlm-{a.size}"
        save(folder)
        manifest = load_corpus({"name": "demo", "_target_": "ser.corpora.demo.read", "seed": 0,
                                "utterances_per_speaker": a.per_speaker, "cache_dir": str(Path(tmp) / "cache")})  # fmt: skip
        cfg = {"view": "ssl", "encoder": str(folder), "device": a.device, "batch_size": a.batch_size}
        started = time.perf_counter()
        fs = extract_view(manifest, cfg, cache_dir=Path(tmp) / "cache")
        wall = time.perf_counter() - started
        audio = float(manifest["duration"].sum())
        print(f"clips={len(fs.ids)} audio_s={audio:.1f} wall_s={wall:.2f} x_realtime={audio / wall:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
