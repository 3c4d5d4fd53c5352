"""What a patient or nurse sees of the latent sweat rate: diary ratings, HDSS, gravimetry.

Pure: numpy arrays in, numpy arrays out; noise only from a ``numpy.random.Generator`` passed
in. Every rule works on the sweat rate over the region's normal cut-off
(``ionto.therapy.response.normal_cutoff``): ``ratio ≤ 1`` is normal sweating.

* **Diary** (daily, the patient): *dry*, *slightly wet*, *moderately wet*, *very wet* — the
  four ratings of the daily cards in Dolianitis et al. 2004. The sources give no sweat rates
  for them, so the bands are a derived preset (:class:`ObservationSettings`): normal or less is
  dry, up to twice the cut-off slightly wet ("clammy"), up to four times moderately wet. The
  patient's perception is noisy (lognormal), some days have no entry, and a few entries
  contradict the days around them (a wrong tick, the other hand rated).
* **HDSS** (1-4, Solish 2007) on the same bands: the question is about how sweating
  interferes with life, which the bands stand in for (derived).
* **Gravimetry** (mg/min): the latent rate with multiplicative measurement noise (filter
  paper, room, time of day: derived), judged against the same cut-offs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from ionto.therapy import sources
from ionto.therapy.sources import Source

FloatArray = npt.NDArray[np.float64]
CodeArray = npt.NDArray[np.int8]

OBSERVATION_DERIVED = Source(
    key="observation_derived",
    citation=(
        "Ionto derived: diary and HDSS bands at 1x, 2x and 4x the region's normal "
        "gravimetric cut-off; perception and measurement noise; needs sign-off"
    ),
    grade="D",
)


class DiaryRating(IntEnum):
    """A day's diary entry (Dolianitis et al. 2004's daily card). ``MISSING``: no entry."""

    MISSING = -1
    DRY = 0
    SLIGHTLY_WET = 1
    MODERATELY_WET = 2
    VERY_WET = 3

    @property
    def words(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class ObservationSettings:
    """Bands and noise of what is observed (derived, see the module doc).

    ``band_edges`` are the ratios to the normal cut-off between dry / slightly wet /
    moderately wet / very wet (and HDSS 1/2/3/4). ``diary_sigma``: perception noise (log
    scale); ``diary_missing``: share of days without an entry; ``diary_contradictory``: share
    of entries that are a random rating. ``hdss_sigma``: noise of the HDSS answer (log scale).
    ``gravimetry_sigma``: measurement noise (log scale; σ 0.2 is a CV of about 20%).
    """

    band_edges: tuple[float, float, float] = (1.0, 2.0, 4.0)
    diary_sigma: float = 0.25
    diary_missing: float = 0.15
    diary_contradictory: float = 0.05
    hdss_sigma: float = 0.15
    gravimetry_sigma: float = 0.20
    source: Source = OBSERVATION_DERIVED

    def __post_init__(self) -> None:
        a, b, c = self.band_edges
        if not 0 < a < b < c:
            raise ValueError("band_edges must increase and be above 0")
        for name in ("diary_sigma", "hdss_sigma", "gravimetry_sigma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")
        for name in ("diary_missing", "diary_contradictory"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be within [0, 1)")


DEFAULT_OBSERVATION = ObservationSettings()

#: The HDSS answers the bands stand for (Solish 2007), 1 = never noticeable.
HDSS_SOURCE = sources.HDSS


def band(ratio: FloatArray, settings: ObservationSettings = DEFAULT_OBSERVATION) -> CodeArray:
    """The noise-free band 0-3 (dry … very wet) of a sweat rate over the normal cut-off."""
    edges = np.asarray(settings.band_edges)
    return np.asarray(np.searchsorted(edges, np.asarray(ratio), side="left"), dtype=np.int8)


def _noisy(ratio: FloatArray, sigma: float, rng: np.random.Generator) -> FloatArray:
    values = np.asarray(ratio, dtype=np.float64)
    if sigma == 0:
        return values
    return np.asarray(values * np.exp(sigma * rng.standard_normal(values.shape)), dtype=np.float64)


def diary_entries(
    ratio: FloatArray,
    rng: np.random.Generator,
    settings: ObservationSettings = DEFAULT_OBSERVATION,
) -> CodeArray:
    """Diary entries (codes of :class:`DiaryRating`) for sweat rates over the cut-off.

    Any shape (e.g. patients × days). Noisy perception, then a share of random entries, then a
    share of days without an entry (−1).
    """
    codes = band(_noisy(ratio, settings.diary_sigma, rng), settings)
    shape = codes.shape
    wrong = rng.random(shape) < settings.diary_contradictory
    codes = np.where(wrong, rng.integers(0, 4, shape).astype(np.int8), codes).astype(np.int8)
    missing = rng.random(shape) < settings.diary_missing
    return np.where(missing, np.int8(DiaryRating.MISSING), codes).astype(np.int8)


def hdss_scores(
    ratio: FloatArray,
    rng: np.random.Generator,
    settings: ObservationSettings = DEFAULT_OBSERVATION,
) -> CodeArray:
    """HDSS answers 1-4 for sweat rates over the cut-off (noisy; derived bands)."""
    return np.asarray(band(_noisy(ratio, settings.hdss_sigma, rng), settings) + 1, dtype=np.int8)


def gravimetry_mg_min(
    rate_mg_min: FloatArray,
    rng: np.random.Generator,
    settings: ObservationSettings = DEFAULT_OBSERVATION,
) -> FloatArray:
    """Measured gravimetric rates: the latent rate × lognormal measurement noise."""
    return _noisy(rate_mg_min, settings.gravimetry_sigma, rng)
