"""The synthetic demo corpus: deterministic emotional "speech" in the IEMOCAP release layout.

`corpus=demo` makes `ser` run out of the box: on first use a small corpus is synthesised into the
cache and then read back by the IEMOCAP reader, so the demo exercises the same code path as the real
corpus. Five sessions with one female and one male speaker each; raw labels neu, hap, exc, sad, ang
(kept by `iemocap4`) plus some fru and xxx (dropped by it).

The audio comes from a small source-filter vocoder: a glottal pulse train with jitter, shimmer and
aspiration noise, a spectral tilt filter, a cascade of vowel formant resonators per syllable, noise
bursts for consonants, and background noise. Emotion is carried by prosody and voice quality (pitch
level, range and contour, loudness, speaking rate, pauses, tilt, breathiness, jitter), speakers differ
in pitch, vocal tract length and habits. Each emotion's parameters are drawn around a prototype with a
random per-utterance intensity and spread, so classes overlap: a speaker-independent model learns the
task well above chance but not perfectly. Transcripts carry emotion words, with noise: 60 % of the
lines are phrases of the utterance's own emotion (neutral phrases for neutral), 10 % another
emotion's, 30 % neutral, some with a neutral sentence before them. Text alone is thus well above
chance but far from perfect, and it errs independently of the audio (its own random stream), so
audio+text fusion has something to gain (`benchmarks/demo_text_signal.py` measures it).

Dimensional ratings (valence, arousal, dominance, 1-5) follow each utterance's own voice parameters
(`dimensions`): arousal is carried by its loudness, pitch level and speaking rate, dominance by
loudness and pressed phonation (low open quotient), valence by the emotion and its intensity, and
only weakly by the voice (formant raising of smiling, rising contours). Each speaker's raters lean
their own way, and two evaluators' noisy, rounded ratings are averaged, so `task=regression` is
learnable but not trivial. The parameters are recomputed from the utterance's audio stream, and the
ratings drawn from a stream of their own, so the audio is the same as without them.

Everything is drawn from `numpy.random.default_rng` streams derived from the seed, and wavs are written
as 16-bit PCM, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import butter, lfilter, sosfilt

from ser.cache import atomic_dir, cache_root, stable_hash

log = logging.getLogger(__name__)

# Bump when the generator's output changes, so caches of older versions are not reused.
# 2: transcripts from their own stream, neutral lines for neutral utterances (audio as in 1).
# 3: V/A/D ratings from each utterance's voice parameters (audio, labels, transcripts as in 2).
VERSION = 3
SAMPLE_RATE = 16_000
SESSIONS = (1, 2, 3, 4, 5)
# 48 per speaker x 10 speakers = 480 utterances, of which ~88% are kept by iemocap4 (>= 400).
DEFAULT_UTTERANCES_PER_SPEAKER = 48
UTTERANCES_PER_DIALOG = 24  # both speakers together
MIN_SECONDS, MAX_SECONDS = 1.0, 4.0

# Raw label shares per speaker, roughly IEMOCAP's (neutral most frequent, excited > happy).
LABEL_SHARES = {"neu": 0.26, "hap": 0.09, "exc": 0.13, "sad": 0.19, "ang": 0.21, "fru": 0.07, "xxx": 0.05}

# ---------------------------------------------------------------------------------------------------
# Emotion prototypes. Each utterance interpolates between neutral and its emotion's prototype by a
# random intensity, then adds per-utterance spread, so that classes overlap.
#   f0_st: pitch level in semitones above the speaker's base; range_st: accent excursion (st);
#   slope_st: pitch change across the utterance (declination < 0, rising > 0); rate: syllables/s;
#   pause: chance of a pause after a syllable; tilt: one-pole low-pass coefficient (steeper tilt when
#   higher); breath: aspiration noise relative to the pulses; jitter/shimmer: cycle irregularity;
#   oq: glottal open quotient (high = soft, breathy; low = pressed); level_db: speech RMS in dBFS;
#   attack: syllable envelope exponent (low = abrupt); f1/f2: formant scaling (smiling raises F2).
# ---------------------------------------------------------------------------------------------------
PROTOTYPES: dict[str, dict[str, float]] = {
    "neu": dict(f0_st=0.0, range_st=2.5, slope_st=-2.0, rate=4.3, pause=0.08, tilt=0.60, breath=0.06,
                jitter=0.008, shimmer=0.05, oq=0.60, level_db=-25.0, attack=1.0, f1=1.00, f2=1.00),
    "hap": dict(f0_st=3.5, range_st=5.5, slope_st=2.5, rate=4.8, pause=0.06, tilt=0.50, breath=0.07,
                jitter=0.008, shimmer=0.04, oq=0.58, level_db=-21.5, attack=0.9, f1=1.03, f2=1.08),
    "exc": dict(f0_st=4.5, range_st=6.5, slope_st=2.0, rate=5.2, pause=0.05, tilt=0.45, breath=0.06,
                jitter=0.010, shimmer=0.05, oq=0.52, level_db=-20.0, attack=0.8, f1=1.05, f2=1.08),
    "sad": dict(f0_st=-1.5, range_st=1.2, slope_st=-1.5, rate=3.2, pause=0.20, tilt=0.82, breath=0.20,
                jitter=0.013, shimmer=0.07, oq=0.75, level_db=-29.0, attack=1.6, f1=0.97, f2=0.98),
    "ang": dict(f0_st=3.5, range_st=5.0, slope_st=-4.0, rate=5.4, pause=0.04, tilt=0.20, breath=0.02,
                jitter=0.022, shimmer=0.11, oq=0.36, level_db=-17.0, attack=0.5, f1=1.08, f2=0.99),
    "fru": dict(f0_st=2.0, range_st=3.5, slope_st=-2.5, rate=4.8, pause=0.06, tilt=0.40, breath=0.05,
                jitter=0.015, shimmer=0.08, oq=0.48, level_db=-20.5, attack=0.7, f1=1.04, f2=1.00),
}
# Per-utterance spread (standard deviation) of each parameter around its interpolated value.
SPREAD = dict(f0_st=1.5, range_st=1.0, slope_st=1.5, rate=0.45, pause=0.03, tilt=0.07, breath=0.03,
              jitter=0.003, shimmer=0.015, oq=0.05, level_db=2.0, attack=0.2, f1=0.02, f2=0.02)
# Lower and upper bounds that keep the vocoder stable.
BOUNDS = dict(range_st=(0.3, 10.0), rate=(2.2, 7.0), pause=(0.0, 0.5), tilt=(0.05, 0.95),
              breath=(0.0, 0.5), jitter=(0.0, 0.05), shimmer=(0.0, 0.25), oq=(0.3, 0.9), attack=(0.3, 2.5))

# Annotators' valence, activation, dominance (1-5) of each emotion: valence is rated from it (scaled by
# the utterance's intensity); arousal and dominance come from the voice itself (`dimensions`).
VAD = {"neu": (3.0, 2.5, 2.5), "hap": (4.0, 3.3, 3.0), "exc": (4.0, 4.0, 3.5), "sad": (1.8, 2.0, 2.0),
       "ang": (1.7, 4.0, 4.0), "fru": (2.0, 3.4, 3.3), "xxx": (2.6, 3.0, 3.0)}
# The categorical names evaluators use in the EmoEvaluation files.
CATEGORY_NAMES = {"neu": "Neutral state", "hap": "Happiness", "exc": "Excited", "sad": "Sadness",
                  "ang": "Anger", "fru": "Frustration"}

# Male vowel formants (F1-F4, Hz) and bandwidths; speakers scale them by their vocal tract length.
VOWELS = np.array(
    [
        [270, 2290, 3010, 3500],  # i
        [530, 1840, 2480, 3500],  # e
        [730, 1090, 2440, 3500],  # a
        [570, 840, 2410, 3500],  # o
        [300, 870, 2240, 3500],  # u
        [640, 1190, 2390, 3500],  # uh
        [660, 1720, 2410, 3500],  # ae
    ],
    dtype=float,
)
BANDWIDTHS = np.array([70.0, 100.0, 140.0, 200.0])
# Consonant noise is high-passed (fricatives and bursts sit above ~2 kHz).
_CONSONANT_SOS = butter(2, 2000, btype="highpass", fs=SAMPLE_RATE, output="sos")

# Transcripts: neutral phrases, and phrases that carry each emotion.
OWN_SHARE, OTHER_SHARE = 0.6, 0.1  # of lines from the own emotion's and another emotion's phrases
NEUTRAL_PHRASES = [
    "Excuse me.", "Okay.", "Yeah.", "Do you have your forms?", "I need to see an ID.", "What time is it?",
    "I'll be there at noon.", "Let me check.", "The train leaves at six.", "We talked about it yesterday.",
    "Is this the right line?", "I think so.", "Where did you put the keys?", "It's on the table.",
    "Can you say that again?", "Sure.", "We should go now.", "I was at the office.", "Right.",
    "It depends on the weather.", "He called this morning.", "Fill out this form, please.",
]
EMOTION_PHRASES = {
    "hap": ["That's wonderful.", "I'm so happy for you.", "This is great.", "I love it.",
            "Oh, that's lovely.", "That makes me really glad."],
    "exc": ["Oh my god, we did it!", "I can't believe it, this is amazing!", "Yes! Finally!",
            "This is so exciting!", "We got in! We actually got in!"],
    "sad": ["I miss him so much.", "I don't know what to do anymore.", "It's just not fair.",
            "I'm sorry.", "Nothing matters now.", "I feel so alone."],
    "ang": ["Are you kidding me?", "Get out of here!", "That's ridiculous!", "I'm sick of this.",
            "Don't you dare talk to me like that!", "This is outrageous!"],
    "fru": ["This is taking forever.", "Why can't you just help me?", "I've been waiting for hours.",
            "It never works."],
}


@dataclass(frozen=True)
class Speaker:
    """One actor: pitch base, vocal tract scaling and personal habits."""

    session: int
    gender: str  # "F" or "M"
    f0_hz: float
    formant_scale: float
    level_db: float  # personal loudness offset
    tilt: float  # personal voice quality offset
    breath: float
    expressiveness: float  # scales emotion intensity: some actors are more restrained


@dataclass(frozen=True)
class Utterance:
    """Everything the files say about one utterance, decided before any audio is made."""

    utterance_id: str
    dialog: str
    speaker: Speaker
    label: str
    n_samples: int
    start: float
    transcript: str
    ratings: tuple[tuple[int, ...], ...]  # evaluators' (val, act, dom)
    categories: tuple[str, ...]  # evaluators' categorical labels
    seed: np.random.SeedSequence

    @property
    def end(self) -> float:
        return self.start + self.n_samples / SAMPLE_RATE


# ---------------------------------------------------------------------------------------------------
# Planning: speakers, labels, dialogs, times, transcripts and ratings.
# ---------------------------------------------------------------------------------------------------
def _label_counts(n: int) -> dict[str, int]:
    """Split `n` utterances over the raw labels by `LABEL_SHARES` (largest remainder).

    From 7 utterances on, every label gets at least one, so even tiny corpora have fru and xxx.
    """
    labels = list(LABEL_SHARES)
    base = 1 if n >= len(labels) else 0
    rest = n - base * len(labels)
    exact = np.array([LABEL_SHARES[lab] for lab in labels]) * rest
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: rest - counts.sum()]] += 1
    return {lab: base + int(c) for lab, c in zip(labels, counts, strict=True)}


def _dialog_names(session: int, n_dialogs: int) -> list[str]:
    """IEMOCAP-style dialog names, alternating who wore the markers and improvised/scripted."""
    names = []
    for k in range(n_dialogs):
        marker, j = "FM"[k % 2], k // 4 + 1
        kind = f"impro{j:02d}" if k % 4 < 2 else f"script{j:02d}_{k % 4 - 1}"
        names.append(f"Ses{session:02d}{marker}_{kind}")
    return names


def _make_speakers(rng: np.random.Generator) -> list[Speaker]:
    speakers = []
    for session in SESSIONS:
        for gender in "FM":
            base = 205.0 if gender == "F" else 115.0
            speakers.append(
                Speaker(
                    session=session,
                    gender=gender,
                    f0_hz=base * 2 ** (rng.uniform(-2.5, 2.5) / 12),
                    formant_scale=(1.16 if gender == "F" else 1.0) * rng.uniform(0.95, 1.05),
                    level_db=rng.normal(0.0, 1.5),
                    tilt=rng.normal(0.0, 0.05),
                    breath=rng.uniform(0.0, 0.05),
                    expressiveness=rng.uniform(0.8, 1.15),
                )
            )
    return speakers


def _transcript(label: str, rng: np.random.Generator) -> str:
    """A short line: the own emotion's phrases often, another emotion's sometimes, neutral ones
    otherwise; neutral utterances mostly say neutral phrases, `xxx` (no majority) any emotion's."""
    u = rng.random()
    own = NEUTRAL_PHRASES if label == "neu" else EMOTION_PHRASES.get(label)
    if own is not None and u < OWN_SHARE:
        phrases = own
    elif u < OWN_SHARE + OTHER_SHARE:  # for xxx, which has no own phrases: 70 % any emotion's
        others = [e for e in EMOTION_PHRASES if e != label]
        phrases = EMOTION_PHRASES[others[rng.integers(len(others))]]
    else:
        phrases = NEUTRAL_PHRASES
    text = phrases[rng.integers(len(phrases))]
    if rng.random() < 0.3:  # some lines are two sentences
        text = f"{NEUTRAL_PHRASES[rng.integers(len(NEUTRAL_PHRASES))]} {text}"
    return text


def _version1_transcript_draws(label: str, rng: np.random.Generator) -> None:
    """Draw from the plan stream exactly what version 1's transcripts drew from it, and discard it.

    Version 1 drew transcripts from the plan stream. Drawing the same numbers keeps every later
    draw of that stream (durations, times, ratings, the next session's labels), so labels and audio
    stay byte-identical to version 1 and so do the audio models' figures: version 2 changed the
    transcripts only, which now come from a stream of their own.
    """
    u = rng.random()
    if label in EMOTION_PHRASES and u < 0.5:
        n = len(EMOTION_PHRASES[label])
    elif u < 0.65:
        others = [e for e in EMOTION_PHRASES if e != label]
        n = len(EMOTION_PHRASES[others[rng.integers(len(others))]])
    else:
        n = len(NEUTRAL_PHRASES)
    rng.integers(n)
    if rng.random() < 0.3:
        rng.integers(len(NEUTRAL_PHRASES))


def _annotations(label: str, rng: np.random.Generator) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """Three evaluators' categories (majority = label, xxx = no majority) and two VAD ratings."""
    if label == "xxx":
        cats = tuple(CATEGORY_NAMES[c] for c in rng.choice(list(CATEGORY_NAMES), size=3, replace=False))
    else:
        others = [c for c in CATEGORY_NAMES if c != label]
        third = label if rng.random() < 0.5 else others[rng.integers(len(others))]
        cats = (CATEGORY_NAMES[label], CATEGORY_NAMES[label], CATEGORY_NAMES[third])
    ratings = tuple(
        tuple(int(np.clip(round(m + rng.normal(0, 0.6)), 1, 5)) for m in VAD[label]) for _ in range(2)
    )
    return ratings, cats


RATER_SD = 0.45  # one evaluator's noise around the utterance's dimensions (before rounding to 1-5)
SPEAKER_BIAS_SD = 0.2  # how far the raters of one speaker lean, per dimension


def dimensions(label: str, p: dict[str, float], intensity: float, speaker: Speaker) -> tuple[float, float, float]:
    """An utterance's perceived valence, arousal and dominance (1-5 scale, before rater noise) from the
    voice parameters it is synthesised with (`_voice_params`).

    Arousal: loudness above the speaker's habit, pitch level, speaking rate (and a little of the
    speaker's own loudness); dominance: loudness and pressed phonation (low open quotient); valence:
    the emotion's valence scaled by the utterance's intensity, with weak voice cues (raised second
    formant of a smile, rising or falling pitch).
    """
    loudness = p["level_db"] - speaker.level_db - PROTOTYPES["neu"]["level_db"]  # dB above neutral
    arousal = 2.5 + 0.14 * loudness + 0.1 * p["f0_st"] + 0.3 * (p["rate"] - 4.3) + 0.07 * speaker.level_db
    dominance = 2.5 + 0.1 * loudness + 1.5 * (0.6 - p["oq"]) + 0.05 * speaker.level_db
    v_label = VAD[label][0]
    valence = 3.0 + min(intensity, 1.0) * (v_label - 3.0) + 4.0 * (p["f2"] - 1.0) + 0.05 * p["slope_st"]
    return float(valence), float(arousal), float(dominance)


def _ratings(utt_seed: np.random.SeedSequence, label: str, speaker: Speaker, bias: np.ndarray,
             rng: np.random.Generator) -> tuple[tuple[int, ...], ...]:  # fmt: skip
    """Two evaluators' (val, act, dom) integer ratings of one utterance: its `dimensions` plus the
    speaker's rater bias plus each evaluator's noise, rounded and clipped to 1-5.

    The voice parameters are recomputed from the utterance's own audio stream (a fresh generator, so
    the synthesis later draws exactly the same numbers); the noise comes from the ratings stream."""
    audio_rng = np.random.default_rng(utt_seed)
    p, intensity = _voice_params(label, speaker, audio_rng, with_intensity=True)
    latent = np.array(dimensions(label, p, intensity, speaker)) + bias
    return tuple(
        tuple(int(np.clip(round(float(m + rng.normal(0, RATER_SD))), 1, 5)) for m in latent) for _ in range(2)
    )


def plan(seed: int = 0, utterances_per_speaker: int = DEFAULT_UTTERANCES_PER_SPEAKER) -> list[Utterance]:
    """Decide every utterance of the corpus (ids, labels, durations, times, text), without audio."""
    if utterances_per_speaker < 1:
        raise ValueError(f"utterances_per_speaker must be >= 1, got {utterances_per_speaker}")
    # spawn(4)'s first children are spawn(2)'s and spawn(3)'s: the plan and audio streams of version 1,
    # the transcripts' of version 2
    plan_seed, audio_seed, text_seed, rating_seed = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(plan_seed)
    text_rng = np.random.default_rng(text_seed)
    rating_rng = np.random.default_rng(rating_seed)
    speakers = _make_speakers(rng)
    biases = {s: rating_rng.normal(0.0, SPEAKER_BIAS_SD, 3) for s in speakers}
    # At least two dialogs per session, so both actors wear the markers once.
    n_dialogs = max(2, math.ceil(2 * utterances_per_speaker / UTTERANCES_PER_DIALOG))
    audio_seeds = iter(audio_seed.spawn(len(speakers) * utterances_per_speaker))

    utterances: list[Utterance] = []
    for session in SESSIONS:
        dialogs = _dialog_names(session, n_dialogs)
        # Each speaker's labels in random order, dealt into the session's dialogs.
        per_dialog: dict[str, list[list[str]]] = {}
        for gender in "FM":
            labels = [lab for lab, c in _label_counts(utterances_per_speaker).items() for _ in range(c)]
            labels = [labels[i] for i in rng.permutation(len(labels))]
            per_dialog[gender] = [list(chunk) for chunk in np.array_split(np.array(labels), n_dialogs)]
        for d, dialog in enumerate(dialogs):
            # Turns alternate, starting with the actor who wore the markers.
            first = dialog[5]
            queues = {g: list(per_dialog[g][d]) for g in "FM"}
            order = [first, "M" if first == "F" else "F"]
            numbers = {"F": 0, "M": 0}
            t = float(rng.uniform(1.0, 8.0))
            turn = 0
            while queues["F"] or queues["M"]:
                gender = order[turn % 2] if queues[order[turn % 2]] else order[(turn + 1) % 2]
                turn += 1
                label = str(queues[gender].pop(0))
                speaker = next(s for s in speakers if s.session == session and s.gender == gender)
                # Sad speech runs a little longer, excited speech a little shorter.
                mean_s = {"sad": 2.8, "exc": 2.2, "ang": 2.3}.get(label, 2.5)
                seconds = float(np.clip(rng.normal(mean_s, 0.8), MIN_SECONDS + 0.05, MAX_SECONDS - 0.05))
                _, cats = _annotations(label, rng)  # its ratings (version 2's) only keep the stream's draws
                _version1_transcript_draws(label, rng)
                utt_seed = next(audio_seeds)
                utt = Utterance(
                    utterance_id=f"{dialog}_{gender}{numbers[gender]:03d}",
                    dialog=dialog,
                    speaker=speaker,
                    label=label,
                    n_samples=int(round(seconds * SAMPLE_RATE)),
                    start=round(t, 4),
                    transcript=_transcript(label, text_rng),
                    ratings=_ratings(utt_seed, label, speaker, biases[speaker], rating_rng),
                    categories=cats,
                    seed=utt_seed,
                )
                numbers[gender] += 1
                utterances.append(utt)
                t = utt.end + float(rng.uniform(0.2, 2.0))
    return utterances


# ---------------------------------------------------------------------------------------------------
# Synthesis.
# ---------------------------------------------------------------------------------------------------
def _voice_params(
    label: str, speaker: Speaker, rng: np.random.Generator, with_intensity: bool = False
) -> dict[str, float] | tuple[dict[str, float], float]:
    """Draw one utterance's prosody and voice quality around its emotion's prototype (and, with
    `with_intensity`, return the drawn intensity too: the ratings use it)."""
    if label == "xxx":  # no agreement among evaluators: a blend of two emotions
        a, b = rng.choice(list(PROTOTYPES), size=2, replace=False)
        target = {k: 0.5 * (PROTOTYPES[a][k] + PROTOTYPES[b][k]) for k in PROTOTYPES["neu"]}
    else:
        target = PROTOTYPES[label]
    neutral = PROTOTYPES["neu"]
    intensity = float(np.clip(rng.uniform(0.6, 1.2) * speaker.expressiveness, 0.0, 1.3))
    params = {}
    for key, neu_value in neutral.items():
        value = neu_value + intensity * (target[key] - neu_value) + rng.normal(0.0, SPREAD[key])
        lo, hi = BOUNDS.get(key, (-np.inf, np.inf))
        params[key] = float(np.clip(value, lo, hi))
    params["level_db"] += speaker.level_db
    params["tilt"] = float(np.clip(params["tilt"] + speaker.tilt, *BOUNDS["tilt"]))
    params["breath"] += speaker.breath
    return (params, intensity) if with_intensity else params


def _syllables(n: int, p: dict[str, float], rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Syllable (start, nucleus start, end) sample indices filling the utterance, with pauses."""
    sr = SAMPLE_RATE
    t = int(rng.uniform(0.06, 0.2) * sr)
    end = n - int(rng.uniform(0.06, 0.2) * sr)
    syllables = []
    while True:
        length = int(sr / p["rate"] * rng.uniform(0.7, 1.3))
        if t + length > end and syllables:
            break
        length = min(length, end - t)
        onset = int(length * rng.uniform(0.15, 0.35))
        syllables.append((t, t + onset, t + length))
        t += length
        if rng.random() < p["pause"]:
            t += int(rng.uniform(0.08, 0.35) * sr)
    return syllables


def _glottal_source(f0: np.ndarray, p: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Glottal flow derivative (Rosenberg pulses) with shimmer, plus pulse-synchronous aspiration."""
    phase = np.cumsum(f0 / SAMPLE_RATE)
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    oq = p["oq"]
    opening = 0.6 * oq
    flow = np.where(
        frac < opening,
        0.5 * (1.0 - np.cos(np.pi * frac / opening)),
        np.where(frac < oq, np.cos(0.5 * np.pi * (frac - opening) / (oq - opening)), 0.0),
    )
    flow *= 1.0 + p["shimmer"] * rng.standard_normal(cycle[-1] + 1)[cycle]
    source = np.diff(flow, prepend=0.0)
    source /= np.sqrt(np.mean(source**2)) + 1e-12
    aspiration = rng.standard_normal(len(f0)) * (0.3 + flow)
    return source + 3.0 * p["breath"] * aspiration


def _resonator_sos(formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Cascade of Klatt resonators (unit gain at DC) as second-order sections."""
    r = np.exp(-np.pi * bandwidths / SAMPLE_RATE)
    b1 = -2.0 * r * np.cos(2.0 * np.pi * formants / SAMPLE_RATE)
    b2 = r**2
    sos = np.zeros((len(formants), 6))
    sos[:, 0] = 1.0 + b1 + b2
    sos[:, 3] = 1.0
    sos[:, 4] = b1
    sos[:, 5] = b2
    return sos


def synthesize(utt: Utterance) -> np.ndarray:
    """Render one utterance as float samples in [-1, 1] from its own random stream."""
    rng = np.random.default_rng(utt.seed)
    sr, n, spk = SAMPLE_RATE, utt.n_samples, utt.speaker
    p = _voice_params(utt.label, spk, rng)
    syllables = _syllables(n, p, rng)

    # Pitch contour in semitones on a 4 ms frame grid: level + slope + one accent target per
    # syllable; per-frame noise is the jitter (roughly one value per glottal cycle).
    hop = 64
    frames = np.arange(0, n + hop, hop)
    centres = np.array([(s1 + e) / 2 for _, s1, e in syllables])
    targets = p["range_st"] * rng.uniform(-0.5, 0.5, len(syllables))
    position = frames / n - 0.5
    semitones = p["f0_st"] + p["slope_st"] * position + np.interp(frames, centres, targets)
    f0_frames = spk.f0_hz * 2 ** (semitones / 12) * (1.0 + p["jitter"] * rng.standard_normal(len(frames)))
    f0 = np.interp(np.arange(n), frames, f0_frames)

    source = _glottal_source(f0, p, rng)
    a = p["tilt"]
    source = lfilter([1.0 - a], [1.0, -a], source)

    # Vowel nuclei: each filtered by its own formants, with a stress-varying envelope; sad speech
    # fades over the utterance.
    out = np.zeros(n)
    consonant_env = np.zeros(n)
    tail = int(0.03 * sr)
    fade = 1.0 - 0.4 * (utt.label == "sad") * np.linspace(0, 1, len(syllables))
    vowels = rng.integers(len(VOWELS), size=len(syllables))
    scale = spk.formant_scale * np.array([p["f1"], p["f2"], 1.0, 1.0])
    for i, (s0, s1, e) in enumerate(syllables):
        length = e - s1
        x = np.linspace(0.0, 1.0, length)
        envelope = np.sin(np.pi * x) ** p["attack"] * rng.uniform(0.55, 1.0) * fade[i]
        formants = VOWELS[vowels[i]] * scale * (1.0 + 0.03 * rng.standard_normal(4))
        sos = _resonator_sos(np.minimum(formants, 0.45 * sr), BANDWIDTHS * (1.0 + 2.0 * p["breath"]))
        segment = np.concatenate([source[s1:e] * envelope, np.zeros(tail)])
        stop = min(n, e + tail)
        out[s1:stop] += sosfilt(sos, segment)[: stop - s1]
        if rng.random() < 0.65 and s1 > s0:  # a consonant: a short noise burst before the vowel
            consonant_env[s0:s1] = np.hanning(s1 - s0) * rng.uniform(0.1, 0.35)

    consonants = sosfilt(_CONSONANT_SOS, rng.standard_normal(n)) * consonant_env
    speech = out / (np.sqrt(np.mean(out[out != 0] ** 2)) + 1e-12) + consonants
    active = np.sqrt(np.mean(speech[syllables[0][0] : syllables[-1][2]] ** 2)) + 1e-12
    speech *= 10 ** (p["level_db"] / 20) / active
    # Room/mic noise at a level independent of the speech, so loud speech has a higher SNR.
    noise = lfilter([1.0], [1.0, -0.7], rng.standard_normal(n))
    speech += noise / np.std(noise) * 10 ** (rng.uniform(-60.0, -48.0) / 20)
    peak = np.max(np.abs(speech))
    if peak > 0.9:  # shouting saturates softly instead of wrapping around
        speech = 0.95 * np.tanh(speech / 0.95)
    return speech


# ---------------------------------------------------------------------------------------------------
# Writing the IEMOCAP layout.
# ---------------------------------------------------------------------------------------------------
def _summary_line(utt: Utterance) -> str:
    v, a, d = np.mean(np.array(utt.ratings, dtype=float), axis=0)
    return f"[{utt.start:.4f} - {utt.end:.4f}]\t{utt.utterance_id}\t{utt.label}\t[{v:.4f}, {a:.4f}, {d:.4f}]"


def _evaluation_block(utt: Utterance) -> list[str]:
    lines = [_summary_line(utt)]
    lines += [f"C-E{k + 1}:\t{cat};\t()" for k, cat in enumerate(utt.categories)]
    lines += [f"A-E{k + 1}:\tval {v}; act {a}; dom  {d};\t()" for k, (v, a, d) in enumerate(utt.ratings)]
    return lines + [""]


def generate(
    root: str | Path, seed: int = 0, utterances_per_speaker: int = DEFAULT_UTTERANCES_PER_SPEAKER
) -> dict[str, int]:
    """Write the demo corpus under `root` in the IEMOCAP release layout; return counts per raw label.

    The same `seed` and size give byte-identical files. `root/demo.json` records the parameters and
    the counts per label and per session.
    """
    root = Path(root)
    utterances = plan(seed, utterances_per_speaker)
    by_dialog: dict[str, list[Utterance]] = {}
    for utt in utterances:
        by_dialog.setdefault(utt.dialog, []).append(utt)

    for dialog, utts in by_dialog.items():
        session_dir = root / f"Session{utts[0].speaker.session}"
        wav_dir = session_dir / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True, exist_ok=True)
        for utt in utts:
            pcm = np.round(synthesize(utt) * 32767.0).astype(np.int16)
            sf.write(wav_dir / f"{utt.utterance_id}.wav", pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for utt in utts:
            evaluation += _evaluation_block(utt)
        transcription = [
            f"{u.utterance_id} [{u.start:08.4f}-{u.end:08.4f}]: {u.transcript}" for u in utts
        ]
        for sub, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcription)):
            folder = session_dir / "dialog" / sub
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{dialog}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    counts: dict[str, int] = {}
    sessions: dict[str, int] = {}
    for utt in utterances:
        counts[utt.label] = counts.get(utt.label, 0) + 1
        key = f"Ses{utt.speaker.session:02d}"
        sessions[key] = sessions.get(key, 0) + 1
    info = dict(version=VERSION, seed=seed, utterances_per_speaker=utterances_per_speaker,
                labels=dict(sorted(counts.items())), sessions=sessions)
    (root / "demo.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return dict(sorted(counts.items()))


def corpus_dir(
    cache_dir: str | Path | None = None, seed: int = 0, utterances_per_speaker: int = DEFAULT_UTTERANCES_PER_SPEAKER
) -> Path:
    """Where the demo corpus with these parameters lives in the cache."""
    key = stable_hash("demo", VERSION, seed, utterances_per_speaker)
    return cache_root(cache_dir) / f"demo-{key}"


def read(
    cache_dir: str | Path | None = None,
    seed: int = 0,
    utterances_per_speaker: int = DEFAULT_UTTERANCES_PER_SPEAKER,
    subset: str = "all",
) -> pd.DataFrame:
    """Return the demo corpus's manifest, generating it into the cache on first use.

    Generation is atomic (temporary folder, then rename), so an interrupted run never leaves a
    corpus that looks complete; later calls with the same parameters reuse it. `subset`
    (`improvised`, `scripted`, `all`) is the IEMOCAP reader's: at the default size half of each
    session's dialogs are improvised and half scripted; up to 24 utterances per speaker a session
    has two dialogs, both improvised, so `scripted` keeps nothing there. The subset only filters
    what is read: every subset shares one generated corpus.
    """
    from ser.corpora import iemocap  # here, not at the top: iemocap's reader is the only user

    iemocap.check_subset(subset)  # before generating anything

    root = corpus_dir(cache_dir, seed, utterances_per_speaker)
    if root.is_dir():
        log.info("demo corpus: reusing %s", root)
    else:
        started = time.perf_counter()
        with atomic_dir(root) as tmp:
            counts = generate(tmp, seed=seed, utterances_per_speaker=utterances_per_speaker)
        log.info("demo corpus: generated %d utterances in %.1f s into %s",
                 sum(counts.values()), time.perf_counter() - started, root)
    return iemocap.read(root, subset=subset)
