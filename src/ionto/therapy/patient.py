"""A patient's facts as screening needs them (the input of ``ionto screen``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ionto.therapy.vocabulary import (
    BodyLocation,
    Condition,
    ImplantKind,
    Region,
    SkinFinding,
    Solution,
)


@dataclass(frozen=True)
class History:
    """The sweating history taken at the consultation. ``None`` means not asked or unknown."""

    duration_months: float | None = None
    onset_age_years: float | None = None
    bilateral_symmetric: bool | None = None
    impairs_daily_activities: bool | None = None
    episodes_per_week: float | None = None
    family_history: bool | None = None
    stops_during_sleep: bool | None = None
    night_sweats: bool | None = None
    generalised: bool | None = None
    systemic_symptoms: bool | None = None  # fever, weight loss, swollen lymph nodes


@dataclass(frozen=True)
class Implant:
    kind: ImplantKind
    location: BodyLocation


@dataclass(frozen=True)
class SkinEntry:
    region: Region
    finding: SkinFinding


@dataclass(frozen=True)
class PatientFacts:
    age_years: float
    #: Regions the patient asks to have treated, most bothersome first.
    treat: tuple[Region, ...]
    solution: Solution = Solution.TAP_WATER
    #: Regions where the patient sweats (may include regions not asked to be treated).
    sites: tuple[Region, ...] = ()
    history: History = field(default_factory=History)
    conditions: frozenset[Condition] = frozenset()
    implants: tuple[Implant, ...] = ()
    skin: tuple[SkinEntry, ...] = ()
    hdss: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.age_years <= 130:
            raise ValueError(f"age_years must be between 0 and 130, got {self.age_years}")
        if not self.treat:
            raise ValueError("treat must name at least one region")
        if self.hdss is not None and not 1 <= self.hdss <= 4:
            raise ValueError(f"hdss must be 1 to 4, got {self.hdss}")
