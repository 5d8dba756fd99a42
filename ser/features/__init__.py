"""Feature views for speech emotion recognition: logmel, acoustic functionals, frame sequences,
openSMILE's feature sets (`ser.features.opensmile`), and the text views of the transcripts (cleaned
text, sentence embeddings: `ser.features.text`).

    fs = extract_view(manifest, cfg.features)      # cached, parallel, skips damaged files
    fs.ids, fs.data, fs.names, fs.skipped, fs.cache_hit, fs.matrix()

Command line: `python -m ser.features PATH... --set acoustic [--jobs N] [--out FILE] [--images DIR]`.
"""

from ser.features.config import FeatureConfig, make_config
from ser.features.extract import (
    FEATURE_VERSION,
    AudioConfig,
    cache_key,
    extract_view,
    make_audio_config,
    stores_vectors,
    view_feature_names,
)
from ser.features.opensmile import OpenSmileConfig, is_opensmile_view
from ser.features.ssl import SSLConfig, is_ssl_view, make_ssl_config
from ser.features.store import FeatureSet
from ser.features.text import TEXT_VIEWS, TextConfig, is_text_view, make_text_config, text_feature_set
from ser.features.views import compute_view, feature_names

__all__ = [
    "FEATURE_VERSION",
    "AudioConfig",
    "OpenSmileConfig",
    "FeatureConfig",
    "FeatureSet",
    "SSLConfig",
    "TEXT_VIEWS",
    "TextConfig",
    "cache_key",
    "compute_view",
    "extract_view",
    "feature_names",
    "is_opensmile_view",
    "is_ssl_view",
    "is_text_view",
    "make_audio_config",
    "make_config",
    "make_ssl_config",
    "make_text_config",
    "stores_vectors",
    "text_feature_set",
    "view_feature_names",
]
