"""Each frame descriptor agrees with librosa's reference for the same parameters, on real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser.audio import load_audio
from ser.features.config import make_config
from ser.features.descriptors import compute_descriptors, decimate
from ser.features.filters import chroma_filters, mel_filters

EMODB_WAV = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav"
CLIP = EMODB_WAV / "03a01Fa.wav"

librosa = pytest.importorskip("librosa")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not CLIP.exists():
        pytest.skip(f"EmoDB clip {CLIP} not found (the shared data folder is absent)")
    return load_audio(CLIP, sample_rate=16000)


@pytest.fixture(scope="module")
def ours(speech: np.ndarray) -> dict[str, np.ndarray]:
    """Descriptors of the clip computed in a batch between two other clips (segments must not leak)."""
    cfg = make_config({"view": "sequence"})  # every descriptor, pitch on every frame
    noise = np.random.default_rng(0).normal(0, 0.05, 7000).astype(np.float32)
    batch = compute_descriptors([noise, speech, noise[:3000]], cfg)
    start, n = batch.lengths[0], batch.lengths[1]
    return {k: v[start : start + n].numpy() for k, v in batch.values.items()}


@pytest.fixture(scope="module")
def reference(speech: np.ndarray) -> dict[str, np.ndarray]:
    """librosa's descriptors of the clip with the same parameters (frames x columns)."""
    y = speech
    sr, kw = 16000, {"n_fft": 512, "hop_length": 160, "win_length": 400}
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=64, **kw))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_mels=64, **kw)
    mag = np.abs(librosa.stft(y, **kw))
    return {
        "logmel": mel.T,
        "mfcc": mfcc.T,
        "mfcc_delta": librosa.feature.delta(mfcc).T,
        "mfcc_delta2": librosa.feature.delta(mfcc, order=2).T,
        "contrast": librosa.feature.spectral_contrast(S=mag, sr=sr, n_fft=512).T,
        "chroma": librosa.feature.chroma_stft(S=mag**2, sr=sr, n_fft=512, tuning=0.0).T,
        "centroid": librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=512).T,
        "rolloff": librosa.feature.spectral_rolloff(S=mag, sr=sr, n_fft=512, roll_percent=0.85).T,
        "flatness": librosa.feature.spectral_flatness(S=mag).T,
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=400, hop_length=160).T,
        "rms": librosa.feature.rms(y=y, frame_length=400, hop_length=160).T,
    }


@pytest.mark.slow  # librosa's first stft call alone takes ~5 s (lazy imports, numba compilation)
@pytest.mark.parametrize(
    "name",
    [
        "logmel",
        "mfcc",
        "mfcc_delta",
        "mfcc_delta2",
        "contrast",
        "chroma",
        "centroid",
        "rolloff",
        "flatness",
        "zcr",
        "rms",
    ],
)
def test_descriptor_matches_librosa(name: str, reference: dict, ours: dict) -> None:
    ref, got = reference[name], ours[name]
    assert got.shape == ref.shape, f"{name}: {got.shape} vs librosa {ref.shape}"
    for j in range(ref.shape[1]):
        r = np.corrcoef(got[:, j], ref[:, j])[0, 1]
        assert r > 0.99, f"{name}[{j}]: correlation {r:.4f} with librosa across frames"


@pytest.mark.slow
def test_pitch_matches_librosa_yin_on_voiced_frames(speech: np.ndarray, ours: dict) -> None:
    # Same algorithm and parameters as ours: YIN on the 8 kHz signal, 40 ms frames, 10 ms hop.
    y8 = decimate(speech, 2)
    ref = librosa.yin(y8, fmin=60, fmax=500, sr=8000, frame_length=320, hop_length=80)[: len(ours["f0"])]
    voiced = ours["voiced"][:, 0] > 0
    assert voiced.mean() > 0.2, "speech should have voiced frames"
    np.testing.assert_allclose(ours["f0"][voiced, 0], ref[voiced], rtol=1e-3)
    # and it agrees with full-rate YIN too (the decimation costs no accuracy that matters)
    ref16 = librosa.yin(speech, fmin=60, fmax=500, sr=16000, frame_length=640, hop_length=160)[: len(voiced)]
    rel = np.abs(ours["f0"][voiced, 0] / ref16[voiced] - 1)
    assert np.median(rel) < 0.005 and np.corrcoef(ours["f0"][voiced, 0], ref16[voiced])[0, 1] > 0.99


@pytest.mark.slow  # importing librosa.filters pulls in numba: ~5 s
def test_filter_banks_match_librosa() -> None:
    np.testing.assert_allclose(
        mel_filters(16000, 512, 64, 0.0, 8000.0),
        librosa.filters.mel(sr=16000, n_fft=512, n_mels=64),
        atol=1e-7,
    )
    np.testing.assert_allclose(
        chroma_filters(16000, 512, 12), librosa.filters.chroma(sr=16000, n_fft=512), atol=1e-6
    )


def test_tone_f0_within_one_percent() -> None:
    cfg = make_config({"view": "sequence"})
    t = np.arange(16000) / 16000
    names = ["f0", "voiced"]
    for f0 in (80.0, 155.0, 220.0, 310.0, 440.0):
        # a harmonic tone (fundamental plus two overtones), like a voiced vowel
        y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3)).astype(np.float32)
        batch = compute_descriptors([y], cfg)
        est, voiced = (batch.values[n][5:-5, 0].numpy() for n in names)
        assert voiced.all(), f"{f0} Hz tone should be voiced in every inner frame"
        assert np.abs(est / f0 - 1).max() < 0.01, f"{f0} Hz tone: estimates {est.min():.1f}..{est.max():.1f}"


def test_noise_is_unvoiced() -> None:
    cfg = make_config({"view": "sequence"})
    y = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    voiced = compute_descriptors([y], cfg).values["voiced"].numpy()
    assert voiced.mean() < 0.1


def test_spectral_shape_matches_numpy_on_speech(speech: np.ndarray, ours: dict) -> None:
    """The ComParE/eGeMAPS shape descriptors, recomputed per frame in numpy from scipy's STFT."""
    from scipy.signal import stft

    from ser.features.spectral_shape import SHAPE_NAMES

    window = np.pad(np.hanning(401)[:-1], 56)  # periodic Hann of 400 samples centred in 512
    _, _, spec = stft(speech, window=window, nperseg=512, noverlap=512 - 160, boundary="zeros", padded=False)
    mag = np.abs(spec * window.sum()).T.astype(np.float64)  # undo scipy's scaling: frames x bins
    n = min(len(mag), len(ours["spectral_shape"]))
    mag, got = mag[:n], ours["spectral_shape"][:n]
    power, f = mag**2, np.linspace(0, 8, 257)  # kHz
    p = mag / mag.sum(1, keepdims=True)
    c = (p * f).sum(1, keepdims=True)
    spread = np.sqrt((p * (f - c) ** 2).sum(1))
    q = power / power.sum(1, keepdims=True)
    entropy = -(q * np.log(np.maximum(q, 1e-30))).sum(1) / np.log(257)
    low, high = power[:, (f >= 0.05) & (f <= 1)].sum(1), power[:, (f >= 1) & (f <= 5)].sum(1)
    band = (f >= 0.5) & (f <= 1.5)
    slope = np.polyfit(f[band], 10 * np.log10(np.maximum(power[:, band], 1e-10)).T, 1)[0]
    ref = {
        "spread": spread,
        "entropy": entropy,
        "alpha_ratio": 10 * np.log10(low / high),
        "slope_500_1500": slope,
    }
    loud = power.sum(1) > 1e-3 * power.sum(1).max()  # speech frames, not the silent edges
    for name, values in ref.items():
        col = got[:, SHAPE_NAMES.index(name)]
        r = np.corrcoef(col[loud], values[loud])[0, 1]
        assert r > 0.99, f"{name}: correlation {r:.4f} with numpy across frames"


def test_formants_of_a_synthetic_vowel() -> None:
    """An impulse train through resonators at 700, 1200 and 2600 Hz: LPC finds them within 5 %."""
    import torch
    from scipy.signal import lfilter

    from ser.features.formants import formants

    sr, rng = 8000, np.random.default_rng(0)
    x = np.zeros(sr)
    x[:: sr // 120] = 1.0
    for freq, bw in [(700, 80), (1200, 90), (2600, 120)]:
        r = np.exp(-np.pi * bw / sr)
        x = lfilter([1], [1, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], x)
    frames = np.stack(
        [x[i : i + 320] for i in range(0, sr - 320, 800)] + [rng.normal(0, 1e-3, 320), np.zeros(320)]
    )
    found, ok = formants(torch.tensor(frames, dtype=torch.float32), sr)
    assert ok[:-2].all() and not ok[-1]  # every vowel frame; digital silence has none
    np.testing.assert_allclose(
        found[:-2, :3].numpy(), np.tile([700, 1200, 2600], (len(frames) - 2, 1)), rtol=0.05
    )
    assert (found[:-2, 3:] < 400).all()


def test_jitter_and_shimmer_follow_the_perturbation() -> None:
    """A tone with frame-to-frame F0 and amplitude wobble has more jitter and shimmer than a steady one."""
    from ser.features.views import compute_view, feature_names

    cfg = make_config({"view": "acoustic", "functionals": {"perturbation": ["mean"]}})
    names = feature_names(cfg)
    rng = np.random.default_rng(0)

    def tone(wobble: float) -> np.ndarray:
        steps = np.repeat(rng.normal(0, wobble, 100), 320)  # a new F0 / gain every 20 ms
        phase = 2 * np.pi * np.cumsum(150 * (1 + steps)) / 16000
        return ((1 + 5 * steps) * sum(0.3 / k * np.sin(k * phase) for k in (1, 2, 3))).astype(np.float32)

    steady, shaky = compute_view([tone(0.0), tone(0.03)], cfg)
    for name in ("jitter_mean", "shimmer_mean"):
        j = names.index(name)
        assert shaky[0, j] > 5 * steady[0, j] and shaky[0, j] > 0, name
