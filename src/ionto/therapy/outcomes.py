"""How well the sweating responds: the outcome measures, each scored as its source scores it.

- **HDSS** (Hyperhidrosis Disease Severity Scale, Solish et al. 2007): one question, four
  answers; 3–4 is severe. Responder in trials: a drop of ≥ 2 points; in a tap-water series
  "excellent" = ≥ 2 points, "good" = 1 point (Gülmez & Solak 2026).
- **DLQI** (Finlay & Khan 1994): 10 items × 0–3, total 0–30, one-week recall, from 16 years;
  score bands (Hongbo et al. 2005); minimal important change 4 (Basra et al. 2015). Every
  rendering carries the copyright statement :data:`DLQI_COPYRIGHT`.
- **HidroQoL** (Kamudoni et al. 2015; Gabes et al. 2021): 18 items, two domains; minimal
  important change 4.
- **Gravimetry**: sweat in mg over minutes at rest → mg/min. The diagnostic cut-offs of the
  three sources disagree and are judged **each on its own**, never merged into one number.
  Response: ≥ 50%, ≥ 75%, ≥ 90% reduction from baseline (NCT03658616).
- **Minor's starch-iodine test**: maps the sweating *area*, not the amount.

Every function returns its finding with a :class:`~ionto.therapy.reasons.Reason` (code, plain
words, source). Codes are stable snake_case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from ionto.therapy import sources
from ionto.therapy.reasons import Reason
from ionto.therapy.regions import REGION_WORDS
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import Region

# --- Sources of this module ------------------------------------------------------------------
#: The DLQI's own scoring instructions: "not relevant" scores 0; question 7 "yes" scores 3;
#: one unanswered question scores 0, two or more and the questionnaire is not scored.
DLQI_SCORING = Source(
    key="dlqi_scoring",
    citation="DLQI instructions for use and scoring, Department of Dermatology, Cardiff University",
    grade="P",
)
DLQI_BANDS_SOURCE = Source(
    key="hongbo_2005",
    citation="Hongbo et al., J Invest Dermatol 2005 (DLQI score bands)",
    grade="P",
)
DLQI_MIC_SOURCE = Source(
    key="basra_2015",
    citation="Basra et al., Dermatology 2015 (DLQI minimal important change: 4 points)",
    grade="P",
)
CDLQI_SOURCE = Source(
    key="cdlqi",
    citation="Lewis-Jones & Finlay, Br J Dermatol 1995 (Children's DLQI, CDLQI)",
    grade="P",
)
#: Kamudoni 2015 reduced the response options from five to three (0–2 per item); Donhauser
#: et al. 2023 band the total from 0 to 36, which confirms 18 items × 0–2.
HIDROQOL_SCORING = Source(
    key="hidroqol_scoring",
    citation=(
        "Kamudoni et al., Qual Life Res 2015 (18 items, three response options, two domains); "
        "Donhauser et al., J Patient Rep Outcomes 2023 (total 0–36)"
    ),
    grade="P",
)
ONE_MINUTE_TO_FIVE_DERIVED = Source(
    key="gravimetry_rate_scaling_derived",
    citation=(
        "Ionto derived: a 1-minute gravimetry reading scaled to 5 minutes assuming a steady "
        "rate, to compare with a per-5-minute cut-off; needs sign-off"
    ),
    grade="D",
)


def _require_int(value: object, name: str) -> int:
    # bool is an int in Python; a True/False score is a mistake, not a 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return value


def _require_finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# =============================================================================================
# HDSS
# =============================================================================================

HDSS_QUESTION = "How would you rate the severity of your hyperhidrosis?"

#: The four answers, verbatim (clinical-reference §5; Solish et al. 2007).
HDSS_ANSWERS: Mapping[int, str] = MappingProxyType(
    {
        1: "My sweating is never noticeable and never interferes with my daily activities",
        2: "My sweating is tolerable but sometimes interferes with my daily activities",
        3: "My sweating is barely tolerable and frequently interferes with my daily activities",
        4: "My sweating is intolerable and always interferes with my daily activities",
    }
)
HDSS_MIN = 1
HDSS_MAX = 4
#: HDSS 3–4 is severe hyperhidrosis (Solish et al. 2007).
HDSS_SEVERE_FROM = 3


def validate_hdss(score: int, name: str = "hdss") -> int:
    """An HDSS score: a whole number 1–4, else ``ValueError`` naming the field."""
    _require_int(score, name)
    if not HDSS_MIN <= score <= HDSS_MAX:
        raise ValueError(f"{name} must be 1 to 4, got {score}")
    return score


def hdss_is_severe(score: int) -> bool:
    """HDSS 3 or 4 is severe hyperhidrosis (Solish et al. 2007)."""
    return validate_hdss(score) >= HDSS_SEVERE_FROM


class HdssCategory(StrEnum):
    """The response categories of a tap-water series (Gülmez & Solak 2026)."""

    EXCELLENT = "excellent"  # fell by ≥ 2 points
    GOOD = "good"  # fell by 1 point
    UNCHANGED = "unchanged"
    WORSE = "worse"


@dataclass(frozen=True)
class HdssSettings:
    """Drops in HDSS points for each category.

    ``excellent_drop_points`` 2 and ``good_drop_points`` 1: Gülmez & Solak 2026.
    ``trial_responder_drop_points`` 2: the responder definition of trials (Solish et al. 2007).
    """

    excellent_drop_points: int = 2
    good_drop_points: int = 1
    trial_responder_drop_points: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.good_drop_points <= self.excellent_drop_points <= 3:
            raise ValueError("HDSS drops must satisfy 1 <= good <= excellent <= 3")
        if not 1 <= self.trial_responder_drop_points <= 3:
            raise ValueError("trial_responder_drop_points must be 1 to 3")


DEFAULT_HDSS = HdssSettings()


@dataclass(frozen=True)
class HdssResponse:
    baseline: int
    followup: int
    #: Positive when the sweating improved.
    drop_points: int
    category: HdssCategory
    #: A drop of ≥ 2 points, the trials' responder definition.
    trial_responder: bool
    reason: Reason


def _points(n: int) -> str:
    return "1 point" if n == 1 else f"{n} points"


def hdss_change(
    baseline: int, followup: int, settings: HdssSettings = DEFAULT_HDSS
) -> HdssResponse:
    """The change in HDSS and its category.

    Categories from Gülmez & Solak 2026 (tap-water series): "excellent" = fell by ≥ 2 points
    (code ``hdss_improved_2``), "good" = fell by 1 point (``hdss_improved_1``); no change
    ``hdss_unchanged``; a rise ``hdss_worse`` (HDSS scale, Solish et al. 2007).
    """
    validate_hdss(baseline, "baseline hdss")
    validate_hdss(followup, "followup hdss")
    drop = baseline - followup
    change = f"from {baseline} to {followup}"
    if drop >= settings.excellent_drop_points:
        category = HdssCategory.EXCELLENT
        reason = Reason(
            "hdss_improved_2",
            f"Sweating severity (HDSS) fell by {_points(drop)}, {change}: an excellent response.",
            sources.GULMEZ_SOLAK_2026,
        )
    elif drop >= settings.good_drop_points:
        category = HdssCategory.GOOD
        reason = Reason(
            "hdss_improved_1",
            f"Sweating severity (HDSS) fell by {_points(drop)}, {change}: a good response.",
            sources.GULMEZ_SOLAK_2026,
        )
    elif drop == 0:
        category = HdssCategory.UNCHANGED
        reason = Reason(
            "hdss_unchanged",
            f"Sweating severity (HDSS) has not changed: it is {followup}, as before.",
            sources.HDSS,
        )
    else:
        category = HdssCategory.WORSE
        reason = Reason(
            "hdss_worse",
            f"Sweating severity (HDSS) got worse, {change}.",
            sources.HDSS,
        )
    return HdssResponse(
        baseline=baseline,
        followup=followup,
        drop_points=drop,
        category=category,
        trial_responder=drop >= settings.trial_responder_drop_points,
        reason=reason,
    )


def hdss_trial_responder(
    baseline: int, followup: int, settings: HdssSettings = DEFAULT_HDSS
) -> Reason:
    """Responder by the trials' rule: HDSS fell by ≥ 2 points (Solish et al. 2007)."""
    response = hdss_change(baseline, followup, settings)
    points = settings.trial_responder_drop_points
    if response.trial_responder:
        return Reason(
            "hdss_trial_responder",
            f"A responder as trials count it: HDSS fell by {points} or more points"
            f" ({baseline} to {followup}).",
            sources.HDSS,
        )
    return Reason(
        "hdss_not_trial_responder",
        f"Not a responder as trials count it: HDSS must fall by {points} or more points"
        f" ({baseline} to {followup}).",
        sources.HDSS,
    )


# =============================================================================================
# DLQI
# =============================================================================================

#: The copyright statement every copy and every rendering of the DLQI must carry (Cardiff
#: University, DLQI conditions of use). Never shorten or reword it.
DLQI_COPYRIGHT = "© Dermatology Life Quality Index. A Y Finlay, G K Khan, April 1992"
DLQI_ITEMS = 10
DLQI_ITEM_MAX = 3
DLQI_MAX = DLQI_ITEMS * DLQI_ITEM_MAX  # 30
#: "Over the last week" (Finlay & Khan 1994).
DLQI_RECALL_DAYS = 7
#: The DLQI is validated from 16 years; younger patients use the CDLQI (Lewis-Jones & Finlay).
DLQI_MIN_AGE_YEARS = 16.0
#: Questions 1 and 2 (symptoms, feelings) have no "not relevant" answer.
DLQI_ITEMS_WITHOUT_NOT_RELEVANT = frozenset({1, 2})
#: Question 7: "prevented you from working or studying?" — "yes" scores 3.
DLQI_WORK_ITEM = 7


class DlqiAnswer(StrEnum):
    """The DLQI's answer words. Question 7 offers ``yes`` (prevented work or studying), or
    ``no`` followed by ``a_lot`` / ``a_little`` / ``not_at_all``; ``very_much`` is not on it."""

    VERY_MUCH = "very_much"
    A_LOT = "a_lot"
    A_LITTLE = "a_little"
    NOT_AT_ALL = "not_at_all"
    NOT_RELEVANT = "not_relevant"
    YES = "yes"


_DLQI_ANSWER_SCORE: Mapping[DlqiAnswer, int] = MappingProxyType(
    {
        DlqiAnswer.VERY_MUCH: 3,
        DlqiAnswer.A_LOT: 2,
        DlqiAnswer.A_LITTLE: 1,
        DlqiAnswer.NOT_AT_ALL: 0,
        DlqiAnswer.NOT_RELEVANT: 0,
        DlqiAnswer.YES: 3,
    }
)

#: One DLQI answer: the item score 0–3, the answer word, or ``None`` when left unanswered.
DlqiItem = int | DlqiAnswer | None


class DlqiBand(StrEnum):
    """The DLQI score bands (Hongbo et al. 2005)."""

    NO_EFFECT = "no_effect"
    SMALL_EFFECT = "small_effect"
    MODERATE_EFFECT = "moderate_effect"
    VERY_LARGE_EFFECT = "very_large_effect"
    EXTREMELY_LARGE_EFFECT = "extremely_large_effect"


@dataclass(frozen=True)
class DlqiBandRow:
    low: int
    high: int
    band: DlqiBand
    words: str


#: The bands, in order; together they cover 0–30 exactly once (property-tested).
DLQI_BANDS: tuple[DlqiBandRow, ...] = (
    DlqiBandRow(0, 1, DlqiBand.NO_EFFECT, "no effect at all on the patient's life"),
    DlqiBandRow(2, 5, DlqiBand.SMALL_EFFECT, "a small effect on the patient's life"),
    DlqiBandRow(6, 10, DlqiBand.MODERATE_EFFECT, "a moderate effect on the patient's life"),
    DlqiBandRow(11, 20, DlqiBand.VERY_LARGE_EFFECT, "a very large effect on the patient's life"),
    DlqiBandRow(
        21, 30, DlqiBand.EXTREMELY_LARGE_EFFECT, "an extremely large effect on the patient's life"
    ),
)


@dataclass(frozen=True)
class DlqiSettings:
    """DLQI presets.

    - ``max_unanswered_items`` 1: the DLQI instructions score one unanswered question as 0
      and do not score a questionnaire with two or more unanswered (Cardiff University).
    - ``min_age_years`` 16: the DLQI's validated age; under it, the CDLQI.
    - ``minimal_important_change`` 4 points (Basra et al. 2015).
    """

    max_unanswered_items: int = 1
    min_age_years: float = DLQI_MIN_AGE_YEARS
    minimal_important_change: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.max_unanswered_items < DLQI_ITEMS:
            raise ValueError("max_unanswered_items must be 0 to 9")
        if not 1 <= self.minimal_important_change <= DLQI_MAX:
            raise ValueError("minimal_important_change must be 1 to 30")


DEFAULT_DLQI = DlqiSettings()


def validate_dlqi_total(total: int, name: str = "dlqi") -> int:
    """A DLQI total: a whole number 0–30, else ``ValueError`` naming the field."""
    _require_int(total, name)
    if not 0 <= total <= DLQI_MAX:
        raise ValueError(f"{name} must be 0 to 30, got {total}")
    return total


def dlqi_band(total: int) -> DlqiBandRow:
    """The band of a DLQI total (Hongbo et al. 2005): 0–1 no effect, 2–5 small, 6–10
    moderate, 11–20 very large, 21–30 extremely large."""
    validate_dlqi_total(total)
    for row in DLQI_BANDS:
        if row.low <= total <= row.high:
            return row
    raise AssertionError(f"DLQI bands do not cover {total}")  # pragma: no cover


def dlqi_not_valid_for_age(
    age_years: float, settings: DlqiSettings = DEFAULT_DLQI
) -> Reason | None:
    """A flag when the patient is too young for the DLQI (validated from 16), else ``None``.

    Under 16 the Children's DLQI (CDLQI, Lewis-Jones & Finlay 1995) applies instead; its
    bands differ, so Ionto does not band a child's score with the DLQI's.
    """
    if age_years >= settings.min_age_years:
        return None
    return Reason(
        "dlqi_not_valid_under_16",
        f"The DLQI is for patients aged {settings.min_age_years:g} and over; for a child use"
        f" the Children's DLQI (CDLQI), whose score bands differ. {DLQI_COPYRIGHT}",
        CDLQI_SOURCE,
    )


class DlqiAgeError(ValueError):
    """The DLQI was asked of someone under 16: use the CDLQI."""


@dataclass(frozen=True)
class DlqiResult:
    """A scored DLQI, with its copyright statement attached (it must travel with the score)."""

    total: int
    band: DlqiBand
    #: The score of each of the 10 items, 0–3 (unanswered and "not relevant" score 0).
    item_scores: tuple[int, ...]
    #: 1-based numbers of the unanswered items (scored 0).
    unanswered_items: tuple[int, ...]
    #: 1-based numbers of the items answered "not relevant" (scored 0).
    not_relevant_items: tuple[int, ...]
    reasons: tuple[Reason, ...]
    copyright: str = DLQI_COPYRIGHT

    def __post_init__(self) -> None:
        validate_dlqi_total(self.total, "total")
        if self.copyright != DLQI_COPYRIGHT:
            raise ValueError("a DLQI result must carry the DLQI copyright statement unchanged")
        if dlqi_band(self.total).band is not self.band:
            raise ValueError(f"band {self.band} does not match total {self.total}")

    def render(self) -> str:
        """The score in plain words, ending with the copyright statement."""
        words = dlqi_band(self.total).words
        return f"DLQI {self.total} out of {DLQI_MAX}: {words}.\n{self.copyright}"


def dlqi_item_score(item_number: int, answer: int | DlqiAnswer) -> int:
    """The score of one DLQI answer, per the DLQI scoring instructions (Cardiff University).

    Very much 3, a lot 2, a little 1, not at all 0; "not relevant" 0 (questions 3–10 only);
    question 7: "yes" (prevented work or studying) 3, else a lot 2 / a little 1 / not at all 0.
    A number is taken as the item score and must be 0–3.
    """
    _require_int(item_number, "item_number")
    if not 1 <= item_number <= DLQI_ITEMS:
        raise ValueError(f"DLQI item_number must be 1 to 10, got {item_number}")
    name = f"dlqi item {item_number}"
    if isinstance(answer, DlqiAnswer):
        if answer is DlqiAnswer.NOT_RELEVANT and item_number in DLQI_ITEMS_WITHOUT_NOT_RELEVANT:
            raise ValueError(f"{name}: 'not relevant' is not an answer to this question")
        if answer is DlqiAnswer.YES and item_number != DLQI_WORK_ITEM:
            raise ValueError(f"{name}: 'yes' is an answer to question 7 only")
        if answer is DlqiAnswer.VERY_MUCH and item_number == DLQI_WORK_ITEM:
            raise ValueError(f"{name}: question 7 has no 'very much'; 'yes' scores 3")
        return _DLQI_ANSWER_SCORE[answer]
    _require_int(answer, name)
    if not 0 <= answer <= DLQI_ITEM_MAX:
        raise ValueError(f"{name} must be 0 to 3, got {answer}")
    return answer


def score_dlqi(
    items: Sequence[DlqiItem], age_years: float, settings: DlqiSettings = DEFAULT_DLQI
) -> DlqiResult:
    """Score the 10 DLQI answers (Finlay & Khan 1994), the copyright attached.

    Scoring per the DLQI instructions (Cardiff University): each item 0–3; "not relevant"
    scores 0, as the standard DLQI does (Ionto does not use the DLQI-R adjustment); question
    7's "yes" scores 3; one unanswered item scores 0, two or more → ``ValueError`` (the
    questionnaire is not scored). Under 16 → :class:`DlqiAgeError`: use the CDLQI.
    """
    if age_years < settings.min_age_years:
        raise DlqiAgeError(
            f"age_years {age_years:g}: the DLQI is validated from {settings.min_age_years:g};"
            " use the Children's DLQI (CDLQI)"
        )
    if len(items) != DLQI_ITEMS:
        raise ValueError(f"the DLQI has 10 items, got {len(items)}")
    scores: list[int] = []
    unanswered: list[int] = []
    not_relevant: list[int] = []
    for number, answer in enumerate(items, start=1):
        if answer is None:
            unanswered.append(number)
            scores.append(0)
            continue
        if answer is DlqiAnswer.NOT_RELEVANT:
            not_relevant.append(number)
        scores.append(dlqi_item_score(number, answer))
    if len(unanswered) > settings.max_unanswered_items:
        raise ValueError(
            f"dlqi: {len(unanswered)} questions unanswered ({unanswered}); the DLQI is not"
            f" scored with more than {settings.max_unanswered_items} unanswered"
        )
    total = sum(scores)
    row = dlqi_band(total)
    reasons = [
        Reason(
            f"dlqi_{row.band.value}",
            f"DLQI {total} out of {DLQI_MAX}: {row.words}. {DLQI_COPYRIGHT}",
            DLQI_BANDS_SOURCE,
        )
    ]
    if unanswered:
        reasons.append(
            Reason(
                "dlqi_item_unanswered",
                f"Question {unanswered[0]} was not answered and counts as 0. {DLQI_COPYRIGHT}",
                DLQI_SCORING,
            )
        )
    if not_relevant:
        listed = ", ".join(str(n) for n in not_relevant)
        reasons.append(
            Reason(
                "dlqi_not_relevant_scored_0",
                f"Questions answered 'not relevant' count as 0: {listed}. {DLQI_COPYRIGHT}",
                DLQI_SCORING,
            )
        )
    return DlqiResult(
        total=total,
        band=row.band,
        item_scores=tuple(scores),
        unanswered_items=tuple(unanswered),
        not_relevant_items=tuple(not_relevant),
        reasons=tuple(reasons),
    )


def dlqi_result(total: int, age_years: float, settings: DlqiSettings = DEFAULT_DLQI) -> DlqiResult:
    """A DLQI result from a recorded total (items not kept), with the copyright attached.

    Under 16 → :class:`DlqiAgeError` (use the CDLQI).
    """
    validate_dlqi_total(total)
    if age_years < settings.min_age_years:
        raise DlqiAgeError(
            f"age_years {age_years:g}: the DLQI is validated from {settings.min_age_years:g};"
            " use the Children's DLQI (CDLQI)"
        )
    row = dlqi_band(total)
    return DlqiResult(
        total=total,
        band=row.band,
        item_scores=(),
        unanswered_items=(),
        not_relevant_items=(),
        reasons=(
            Reason(
                f"dlqi_{row.band.value}",
                f"DLQI {total} out of {DLQI_MAX}: {row.words}. {DLQI_COPYRIGHT}",
                DLQI_BANDS_SOURCE,
            ),
        ),
    )


@dataclass(frozen=True)
class DlqiChange:
    baseline: int
    followup: int
    #: Positive when quality of life improved (the score fell).
    improvement: int
    #: The improvement reached the minimal important change.
    meaningful: bool
    reason: Reason
    copyright: str = DLQI_COPYRIGHT


def dlqi_change(baseline: int, followup: int, settings: DlqiSettings = DEFAULT_DLQI) -> DlqiChange:
    """Did quality of life change by at least the minimal important change (4, Basra 2015)?

    Codes: ``dlqi_improved`` (fell by ≥ 4), ``dlqi_worse`` (rose by ≥ 4), else
    ``dlqi_change_below_minimal``. Texts carry the DLQI copyright statement.
    """
    validate_dlqi_total(baseline, "baseline dlqi")
    validate_dlqi_total(followup, "followup dlqi")
    improvement = baseline - followup
    mic = settings.minimal_important_change
    if improvement >= mic:
        reason = Reason(
            "dlqi_improved",
            f"Quality of life improved: DLQI fell from {baseline} to {followup}, at least the"
            f" {mic} points that matter to patients. {DLQI_COPYRIGHT}",
            DLQI_MIC_SOURCE,
        )
    elif -improvement >= mic:
        reason = Reason(
            "dlqi_worse",
            f"Quality of life got worse: DLQI rose from {baseline} to {followup}. {DLQI_COPYRIGHT}",
            DLQI_MIC_SOURCE,
        )
    else:
        reason = Reason(
            "dlqi_change_below_minimal",
            f"DLQI changed from {baseline} to {followup}, less than the {mic} points that"
            f" matter to patients. {DLQI_COPYRIGHT}",
            DLQI_MIC_SOURCE,
        )
    return DlqiChange(
        baseline=baseline,
        followup=followup,
        improvement=improvement,
        meaningful=improvement >= mic,
        reason=reason,
    )


# =============================================================================================
# HidroQoL
# =============================================================================================

HIDROQOL_ITEMS = 18


@dataclass(frozen=True)
class HidroQolSettings:
    """HidroQoL scoring (Kamudoni et al. 2015; Gabes et al. 2021).

    Confirmed from the sources: 18 items, three response options (Kamudoni 2015 reduced them
    from five to three), a total of 0–36 (Donhauser et al. 2023 band it up to 36), two
    domains (daily life activities, psychosocial life), minimal important change 4.
    **Not confirmed** from a source Ionto could read: the split of the 18 items into 6 daily
    life and 12 psychosocial (Kamudoni's factor table shows six daily-life items before the
    final reduction), hence configurable.
    """

    daily_life_items: int = 6
    psychosocial_items: int = 12
    item_max: int = 2
    minimal_important_change: int = 4

    def __post_init__(self) -> None:
        if self.daily_life_items < 1 or self.psychosocial_items < 1 or self.item_max < 1:
            raise ValueError("HidroQoL domains need at least one item scored from 0 upwards")
        if not 1 <= self.minimal_important_change <= self.total_max:
            raise ValueError("HidroQoL minimal_important_change out of range")

    @property
    def total_max(self) -> int:
        return (self.daily_life_items + self.psychosocial_items) * self.item_max


DEFAULT_HIDROQOL = HidroQolSettings()


@dataclass(frozen=True)
class HidroQolResult:
    daily_life: int
    psychosocial: int
    total: int
    total_max: int
    reason: Reason


def score_hidroqol(
    daily_life_items: Sequence[int],
    psychosocial_items: Sequence[int],
    settings: HidroQolSettings = DEFAULT_HIDROQOL,
) -> HidroQolResult:
    """Sum the HidroQoL items per domain and in total; each item 0–2 (Kamudoni et al. 2015)."""
    for name, items, expected in (
        ("daily life", daily_life_items, settings.daily_life_items),
        ("psychosocial", psychosocial_items, settings.psychosocial_items),
    ):
        if len(items) != expected:
            raise ValueError(f"HidroQoL {name} domain has {expected} items, got {len(items)}")
        for number, score in enumerate(items, start=1):
            _require_int(score, f"hidroqol {name} item {number}")
            if not 0 <= score <= settings.item_max:
                raise ValueError(
                    f"hidroqol {name} item {number} must be 0 to {settings.item_max}, got {score}"
                )
    daily = sum(daily_life_items)
    psycho = sum(psychosocial_items)
    total = daily + psycho
    return HidroQolResult(
        daily_life=daily,
        psychosocial=psycho,
        total=total,
        total_max=settings.total_max,
        reason=Reason(
            "hidroqol_scored",
            f"HidroQoL {total} out of {settings.total_max} (daily life {daily}, feelings and"
            f" social life {psycho}); higher means more impact.",
            HIDROQOL_SCORING,
        ),
    )


def hidroqol_change(
    baseline_total: int, followup_total: int, settings: HidroQolSettings = DEFAULT_HIDROQOL
) -> Reason:
    """Did the HidroQoL total fall by at least the minimal important change (4)?

    Source: Kamudoni et al. 2015; Gabes et al., BJD 2021. Codes ``hidroqol_improved``,
    ``hidroqol_worse``, ``hidroqol_change_below_minimal``.
    """
    for name, value in (("baseline", baseline_total), ("followup", followup_total)):
        _require_int(value, f"{name} hidroqol")
        if not 0 <= value <= settings.total_max:
            raise ValueError(f"{name} hidroqol must be 0 to {settings.total_max}, got {value}")
    improvement = baseline_total - followup_total
    mic = settings.minimal_important_change
    change = f"from {baseline_total} to {followup_total}"
    if improvement >= mic:
        return Reason(
            "hidroqol_improved",
            f"Quality of life improved: HidroQoL fell {change}, at least the {mic} points that"
            " matter to patients.",
            sources.HIDROQOL,
        )
    if -improvement >= mic:
        return Reason(
            "hidroqol_worse",
            f"Quality of life got worse: HidroQoL rose {change}.",
            sources.HIDROQOL,
        )
    return Reason(
        "hidroqol_change_below_minimal",
        f"HidroQoL changed {change}, less than the {mic} points that matter to patients.",
        sources.HIDROQOL,
    )


# =============================================================================================
# Gravimetry
# =============================================================================================


@dataclass(frozen=True)
class GravimetryMeasurement:
    """Pre-weighed filter paper on the region for 1 or 5 minutes, at rest, in a controlled
    room (clinical-reference §5): the weight gained in mg and the minutes it lay there."""

    region: Region
    sweat_mg: float
    minutes: float

    def __post_init__(self) -> None:
        if _require_finite(self.sweat_mg, "sweat_mg") < 0:
            raise ValueError(f"sweat_mg must not be negative, got {self.sweat_mg}")
        if _require_finite(self.minutes, "minutes") <= 0:
            raise ValueError(f"minutes must be above 0, got {self.minutes}")

    @property
    def rate_mg_min(self) -> float:
        return self.sweat_mg / self.minutes


class CutoffFinding(StrEnum):
    ABOVE = "above"
    NOT_ABOVE = "not_above"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class GravimetryJudgement:
    """One source's judgement of one measurement. Ionto never merges these into one number."""

    source: Source
    finding: CutoffFinding
    #: The measurement in this source's unit (``None`` when the source cannot judge it).
    measured: float | None
    cutoff: float | None
    unit: str
    reason: Reason


@dataclass(frozen=True)
class GravimetryCutoffs:
    """The diagnostic cut-offs, one field per source, never combined (clinical-reference §5).

    - Thorlacius et al. 2015: 100 mg per 5 minutes (no region stated in Ionto's reference:
      applied to every region).
    - German insurers: palm > 20 mg/min, axilla > 50 mg/min (no figure for other regions).
    - Stefaniak et al. 2013: per m² of body surface, face 49, palm 46, axilla 136, sole 50
      mg/min/m² (needs the patient's body surface area; none for the neck).
    """

    thorlacius_mg_per_5_min: float = 100.0
    german_insurers_mg_min: Mapping[Region, float] = field(
        default_factory=lambda: MappingProxyType({Region.PALMS: 20.0, Region.AXILLAE: 50.0})
    )
    stefaniak_mg_min_m2: Mapping[Region, float] = field(
        default_factory=lambda: MappingProxyType(
            {Region.FACE: 49.0, Region.PALMS: 46.0, Region.AXILLAE: 136.0, Region.SOLES: 50.0}
        )
    )


DEFAULT_GRAVIMETRY_CUTOFFS = GravimetryCutoffs()


def _judgement(
    source: Source,
    finding: CutoffFinding,
    measured: float | None,
    cutoff: float | None,
    unit: str,
    text: str,
) -> GravimetryJudgement:
    return GravimetryJudgement(
        source=source,
        finding=finding,
        measured=measured,
        cutoff=cutoff,
        unit=unit,
        reason=Reason(f"gravimetry_{finding.value}_{source.key}", text, source),
    )


def judge_thorlacius(
    measurement: GravimetryMeasurement, cutoffs: GravimetryCutoffs = DEFAULT_GRAVIMETRY_CUTOFFS
) -> GravimetryJudgement:
    """At least 100 mg in 5 minutes (Thorlacius et al., Int J Dermatol 2015).

    A reading over another duration is scaled to 5 minutes assuming a steady rate (derived).
    """
    unit = "mg/5 min"
    per_5_min = measurement.rate_mg_min * 5.0
    cutoff = cutoffs.thorlacius_mg_per_5_min
    scaled = "" if measurement.minutes == 5 else " (scaled to 5 minutes)"
    if per_5_min >= cutoff:
        text = f"{per_5_min:g} mg in 5 minutes{scaled}: at or above {cutoff:g} mg."
        return _judgement(
            sources.THORLACIUS_2015, CutoffFinding.ABOVE, per_5_min, cutoff, unit, text
        )
    text = f"{per_5_min:g} mg in 5 minutes{scaled}: below {cutoff:g} mg."
    return _judgement(
        sources.THORLACIUS_2015, CutoffFinding.NOT_ABOVE, per_5_min, cutoff, unit, text
    )


def judge_german_insurers(
    measurement: GravimetryMeasurement, cutoffs: GravimetryCutoffs = DEFAULT_GRAVIMETRY_CUTOFFS
) -> GravimetryJudgement:
    """Palm > 20 mg/min, axilla > 50 mg/min (German health insurers); other regions: none."""
    unit = "mg/min"
    src = sources.GERMAN_INSURERS
    cutoff = cutoffs.german_insurers_mg_min.get(measurement.region)
    rate = measurement.rate_mg_min
    if cutoff is None:
        text = f"The German insurers' cut-offs do not cover the {REGION_WORDS[measurement.region]}."
        return _judgement(src, CutoffFinding.NOT_APPLICABLE, None, None, unit, text)
    if rate > cutoff:
        text = f"{rate:g} mg/min: above {cutoff:g} mg/min."
        return _judgement(src, CutoffFinding.ABOVE, rate, cutoff, unit, text)
    text = f"{rate:g} mg/min: not above {cutoff:g} mg/min."
    return _judgement(src, CutoffFinding.NOT_ABOVE, rate, cutoff, unit, text)


def judge_stefaniak(
    measurement: GravimetryMeasurement,
    body_surface_m2: float | None,
    cutoffs: GravimetryCutoffs = DEFAULT_GRAVIMETRY_CUTOFFS,
) -> GravimetryJudgement:
    """Per m² of body surface: face 49, palm 46, axilla 136, sole 50 mg/min/m² (Stefaniak et
    al., Clin Auton Res 2013). Needs the body surface area; no figure for the neck."""
    unit = "mg/min/m2"
    src = sources.STEFANIAK_2013
    cutoff = cutoffs.stefaniak_mg_min_m2.get(measurement.region)
    if cutoff is None:
        text = f"Stefaniak's cut-offs do not cover the {REGION_WORDS[measurement.region]}."
        return _judgement(src, CutoffFinding.NOT_APPLICABLE, None, None, unit, text)
    if body_surface_m2 is None:
        text = "Stefaniak's cut-offs need the patient's body surface area, which is not recorded."
        return _judgement(src, CutoffFinding.NOT_APPLICABLE, None, cutoff, unit, text)
    if _require_finite(body_surface_m2, "body_surface_m2") <= 0:
        raise ValueError(f"body_surface_m2 must be above 0, got {body_surface_m2}")
    per_m2 = measurement.rate_mg_min / body_surface_m2
    if per_m2 > cutoff:
        text = f"{per_m2:.3g} mg/min per m² of body surface: above {cutoff:g}."
        return _judgement(src, CutoffFinding.ABOVE, per_m2, cutoff, unit, text)
    text = f"{per_m2:.3g} mg/min per m² of body surface: not above {cutoff:g}."
    return _judgement(src, CutoffFinding.NOT_ABOVE, per_m2, cutoff, unit, text)


def judge_gravimetry(
    measurement: GravimetryMeasurement,
    body_surface_m2: float | None = None,
    cutoffs: GravimetryCutoffs = DEFAULT_GRAVIMETRY_CUTOFFS,
) -> tuple[GravimetryJudgement, ...]:
    """Each source's diagnostic judgement of one measurement, separately, in a fixed order
    (Thorlacius 2015, German insurers, Stefaniak 2013). There is deliberately no overall
    verdict: the sources disagree (clinical-reference §5)."""
    return (
        judge_thorlacius(measurement, cutoffs),
        judge_german_insurers(measurement, cutoffs),
        judge_stefaniak(measurement, body_surface_m2, cutoffs),
    )


#: Response levels, % reduction from baseline (NCT03658616).
GRAVIMETRY_RESPONSE_LEVELS_PERCENT: tuple[int, ...] = (50, 75, 90)


def validate_gravimetry_rate(rate_mg_min: float, name: str = "gravimetry_mg_min") -> float:
    """A sweat rate: a finite number ≥ 0 mg/min, else ``ValueError`` naming the field."""
    if _require_finite(rate_mg_min, name) < 0:
        raise ValueError(f"{name} must not be negative, got {rate_mg_min}")
    return float(rate_mg_min)


def gravimetry_reduction_percent(baseline_mg_min: float, followup_mg_min: float) -> float:
    """Reduction from baseline in % (negative when sweating rose). Baseline must be above 0."""
    validate_gravimetry_rate(baseline_mg_min, "baseline gravimetry_mg_min")
    validate_gravimetry_rate(followup_mg_min, "followup gravimetry_mg_min")
    if baseline_mg_min <= 0:
        raise ValueError("baseline gravimetry_mg_min must be above 0 to compute a reduction")
    return (baseline_mg_min - followup_mg_min) / baseline_mg_min * 100.0


def _percent_change_words(reduction_percent: float) -> str:
    """'fell by 5%', 'rose by 50%' or 'did not change': a signed percentage confuses readers."""
    if math.isinf(reduction_percent):  # from a baseline of practically nothing
        return "rose"
    # Rounded down, so that 49.6% is never shown as the 50% it did not reach.
    shown = math.floor(abs(reduction_percent))
    if shown == 0:
        return "did not change"
    return f"{'fell' if reduction_percent > 0 else 'rose'} by {shown}%"


@dataclass(frozen=True)
class GravimetryResponse:
    baseline_mg_min: float
    followup_mg_min: float
    reduction_percent: float
    #: The response levels reached (e.g. ``(50, 75)``).
    levels_met: tuple[int, ...]
    reason: Reason


def gravimetry_response(
    baseline_mg_min: float,
    followup_mg_min: float,
    levels_percent: tuple[int, ...] = GRAVIMETRY_RESPONSE_LEVELS_PERCENT,
) -> GravimetryResponse:
    """Which of the ≥ 50%, ≥ 75%, ≥ 90% reductions were reached (NCT03658616).

    Code ``gravimetry_reduced_<level>`` for the highest level reached, else
    ``gravimetry_not_reduced_<lowest level>``.
    """
    if not levels_percent or any(not 0 < level <= 100 for level in levels_percent):
        raise ValueError("gravimetry response levels must be between 0 and 100 %")
    reduction = gravimetry_reduction_percent(baseline_mg_min, followup_mg_min)
    levels = tuple(sorted(levels_percent))
    met = tuple(level for level in levels if reduction >= level)
    change = f"from {baseline_mg_min:g} to {followup_mg_min:g} mg/min"
    if met:
        reason = Reason(
            f"gravimetry_reduced_{met[-1]}",
            f"Measured sweating fell by {reduction:.0f}%, {change}: at least {met[-1]}% less.",
            sources.NCT03658616,
        )
    else:
        reason = Reason(
            f"gravimetry_not_reduced_{levels[0]}",
            f"Measured sweating {_percent_change_words(reduction)}, {change}: less than the"
            f" {levels[0]}% reduction that counts as a response.",
            sources.NCT03658616,
        )
    return GravimetryResponse(
        baseline_mg_min=float(baseline_mg_min),
        followup_mg_min=float(followup_mg_min),
        reduction_percent=reduction,
        levels_met=met,
        reason=reason,
    )


# =============================================================================================
# Minor's starch-iodine test
# =============================================================================================


class AreaUnit(StrEnum):
    CM2 = "cm2"
    PERCENT_OF_REGION = "percent_of_region"


@dataclass(frozen=True)
class StarchIodineMap:
    """The blue-black area of a starch-iodine test (Minor): where it sweats, not how much."""

    region: Region
    stained_area: float
    unit: AreaUnit

    def __post_init__(self) -> None:
        if _require_finite(self.stained_area, "stained_area") < 0:
            raise ValueError(f"stained_area must not be negative, got {self.stained_area}")
        if self.unit is AreaUnit.PERCENT_OF_REGION and self.stained_area > 100:
            raise ValueError(f"stained_area in % must be at most 100, got {self.stained_area}")


@dataclass(frozen=True)
class StarchIodineResponse:
    #: Reduction of the stained area in % (``None`` when there was no stained area before).
    reduction_percent: float | None
    reason: Reason


def starch_iodine_change(
    baseline: StarchIodineMap, followup: StarchIodineMap
) -> StarchIodineResponse:
    """How much the sweating *area* shrank (Minor's starch-iodine test).

    The test maps area, not amount: a smaller stained area says less skin sweats, not that
    it sweats less. Both maps must be of the same region in the same unit. Codes
    ``starch_iodine_area_reduced``, ``starch_iodine_area_unchanged``,
    ``starch_iodine_area_increased``, ``starch_iodine_no_area_before``.
    """
    if baseline.region is not followup.region:
        raise ValueError("starch-iodine maps must be of the same region")
    if baseline.unit is not followup.unit:
        raise ValueError("starch-iodine maps must use the same unit (cm2 or percent_of_region)")
    src = sources.MINOR_STARCH_IODINE
    unit = "cm²" if baseline.unit is AreaUnit.CM2 else "% of the region"
    change = f"from {baseline.stained_area:g} to {followup.stained_area:g} {unit}"
    note = "This test maps the sweating area, not the amount of sweat."
    if baseline.stained_area == 0:
        return StarchIodineResponse(
            None,
            Reason(
                "starch_iodine_no_area_before",
                f"No sweating area was stained before treatment, so no reduction can be"
                f" measured. {note}",
                src,
            ),
        )
    reduction = (baseline.stained_area - followup.stained_area) / baseline.stained_area * 100.0
    if reduction > 0:
        code, words = "starch_iodine_area_reduced", f"The sweating area shrank by {reduction:.0f}%"
    elif reduction == 0:
        code, words = "starch_iodine_area_unchanged", "The sweating area did not change"
    else:
        code, words = "starch_iodine_area_increased", "The sweating area grew"
    return StarchIodineResponse(reduction, Reason(code, f"{words}, {change}. {note}", src))
