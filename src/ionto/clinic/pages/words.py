"""The contract's codes in the words a nurse or a patient reads on the pages.

Only wording lives here: what a code *means* clinically is decided by the therapy core, which
also writes each reason's text; these are the headings and labels around them.
"""

from __future__ import annotations

from ionto.clinic.models import TREATMENTS_TRIED
from ionto.therapy.regions import REGION_WORDS
from ionto.therapy.vocabulary import (
    Condition,
    Diagnosis,
    ImplantKind,
    NextStep,
    Region,
    SkinFinding,
    Solution,
    VerdictKind,
    Waveform,
)


def plain(code: str) -> str:
    """A snake_case code as words: ``tap_water`` → ``tap water``."""
    return code.replace("_", " ")


def region(code: str) -> str:
    try:
        return REGION_WORDS[Region(code)]
    except ValueError:
        return plain(code)


def regions(codes: list[str]) -> str:
    return ", ".join(region(c) for c in codes)


SOLUTION_WORDS: dict[str, str] = {
    Solution.TAP_WATER: "tap water",
    Solution.GLYCOPYRRONIUM: "glycopyrronium 0.05%",
}

WAVEFORM_WORDS: dict[str, str] = {
    Waveform.DC: "direct current",
    Waveform.PULSED_DC: "pulsed direct current",
    Waveform.AC_DC_OFFSET: "alternating current on a direct-current offset",
}

DIAGNOSIS_WORDS: dict[str, str] = {
    Diagnosis.PRIMARY_FOCAL: "Primary focal hyperhidrosis",
    Diagnosis.POSSIBLE_SECONDARY: (
        "Possibly secondary hyperhidrosis: refer, do not treat as primary"
    ),
    Diagnosis.GENERALISED: "Generalised hyperhidrosis: only focal regions can be treated",
    Diagnosis.NOT_MET: "The criteria for primary hyperhidrosis are not met",
}

VERDICT_WORDS: dict[str, str] = {
    VerdictKind.WORKS: "Iontophoresis works",
    VerdictKind.DOES_NOT_WORK: "Iontophoresis does not work",
    VerdictKind.CONTINUE: "Too early to judge: carry on with the course",
}

NEXT_STEP_WORDS: dict[str, str] = {
    NextStep.HOME_MAINTENANCE: "carry on at home (maintenance treatment)",
    NextStep.CONTINUE_COURSE: "continue the course",
    NextStep.TRY_PULSED_DC: "try pulsed current",
    NextStep.ESCALATE_GLYCOPYRRONIUM: "try glycopyrronium iontophoresis",
    NextStep.REFER_DERMATOLOGIST: "refer to a dermatologist for other treatments",
    NextStep.STOP: "stop iontophoresis",
}

CONDITION_WORDS: dict[str, str] = {
    Condition.PACEMAKER: "pacemaker",
    Condition.ICD: "implanted defibrillator (ICD)",
    Condition.PREGNANCY: "pregnancy",
    Condition.BREASTFEEDING: "breastfeeding",
    Condition.CARDIAC_ARRHYTHMIA: "heart rhythm problem (arrhythmia)",
    Condition.HEART_DISEASE: "heart disease",
    Condition.EPILEPSY: "epilepsy",
    Condition.GLAUCOMA: "glaucoma",
    Condition.THROMBOSIS: "thrombosis",
    Condition.GLYCOPYRRONIUM_ALLERGY: "allergy to glycopyrronium",
    Condition.ELECTRICAL_SENSITIVITY: "sensitivity to electrical current",
}

IMPLANT_WORDS: dict[str, str] = {
    ImplantKind.METAL_PLATE: "metal plate",
    ImplantKind.METAL_SCREW: "metal screw or pin",
    ImplantKind.JOINT_REPLACEMENT: "joint replacement",
    ImplantKind.COPPER_IUD: "copper coil (IUD)",
    ImplantKind.HORMONAL_IUD: "hormonal coil (no metal)",
    ImplantKind.OTHER_METAL: "other metal implant",
}

SKIN_WORDS: dict[str, str] = {
    SkinFinding.SMALL_CUT: "small cut",
    SkinFinding.OPEN_WOUND: "open wound",
    SkinFinding.INFECTION: "infection",
    SkinFinding.ECZEMA: "eczema",
    SkinFinding.IMPAIRED_SENSATION: "impaired sensation",
    SkinFinding.MALIGNANCY: "malignancy",
}

TREATMENT_WORDS: dict[str, str] = dict(TREATMENTS_TRIED)


def solution(code: str) -> str:
    return SOLUTION_WORDS.get(code, plain(code))


def waveform(code: str) -> str:
    return WAVEFORM_WORDS.get(code, plain(code))


def course_words(region_code: str, solution_code: str) -> str:
    return f"{region(region_code)}, {solution(solution_code)}"
