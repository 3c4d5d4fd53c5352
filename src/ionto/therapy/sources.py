"""The published sources every clinical rule rests on.

One constant per source, as cited in shared/clinical-reference.md. A rule names its source by
one of these constants, so the docs table and the CLI's ``source`` strings stay the same text.
Grades: ``P`` primary or authoritative, ``S`` secondary, ``?`` uncertain or conflicting,
``D`` derived in Ionto (a proposal that needs clinical sign-off).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    key: str
    citation: str
    grade: str

    def __str__(self) -> str:
        return self.citation


def _s(key: str, citation: str, grade: str) -> Source:
    return Source(key=key, citation=citation, grade=grade)


# --- Diagnosis and screening -------------------------------------------------------------
HORNBERGER_2004 = _s("hornberger_2004", "Hornberger et al., J Am Acad Dermatol 2004", "P")
SECONDARY_CAUSES = _s(
    "secondary_causes",
    "Hornberger et al., JAAD 2004; NICE CKS hyperhidrosis (causes to exclude)",
    "P",
)
NICE_CKS = _s("nice_cks", "NICE CKS Hyperhidrosis (via ES10)", "P")
SOLISH_2007 = _s("solish_2007", "Solish et al., Dermatol Surg 2007 (Canadian committee)", "P")
TREATMENT_CENTRE = _s(
    "treatment_centre",
    "UK hospital dermatology centre service description (clinical-reference §1)",
    "S",
)
GENERALISED_FOCAL_ONLY = _s(
    "generalised_focal_only",
    "UK centre service description §1; Ionto derived rule for generalised sweating",
    "D",
)

# --- Contraindications and precautions ----------------------------------------------------
MAKERS_CONTRAINDICATIONS = _s(
    "makers_contraindications",
    "Hidrex, Saalmann and Fischer manuals; South Tees and Doncaster NHS leaflets; Hölzle",
    "P",
)
SOUTH_TEES = _s("south_tees", "South Tees NHS iontophoresis leaflet", "S")
SAALMANN_FISCHER_AGE = _s("saalmann_fischer_age", "Saalmann and Fischer manuals (age ≥ 6)", "P")
COPPER_IUD_FEET = _s(
    "copper_iud_feet", "Makers and NHS leaflets: metal-containing IUD, feet only", "P"
)
SINCLAIR_2023 = _s(
    "sinclair_2023",
    "Sinclair et al., Clin Exp Dermatol 2023 (no heating of implants at 70 V, in vitro)",
    "P",
)
PRECAUTIONS_LEAFLETS = _s(
    "precautions_leaflets",
    "NHS leaflets (South Tees, Doncaster); Fischer and Hidrex manuals: precautions",
    "S",
)
ROBINUL_SMPC = _s("robinul_smpc", "Robinul powder SmPC and patient leaflet (UK)", "P")
IEC_60601_2_10 = _s("iec_60601_2_10", "IEC 60601-2-10 (nerve and muscle stimulators)", "P")

# --- Treatment parameters ----------------------------------------------------------------
DONCASTER = _s("doncaster", "Doncaster & Bassetlaw NHS iontophoresis leaflet", "S")
WIKIPEDIA_DE = _s("wikipedia_de", 'German Wikipedia "Leitungswasseriontophorese"', "S")
FISCHER_WARNINGS = _s("fischer_warnings", "R.A. Fischer, warnings page", "S")
LEOW_TEY_2017 = _s(
    "leow_tey_2017", "Leow & Tey, Indian J Dermatol Venereol Leprol 2017;83:387", "P"
)
HIDREX_SAFETY = _s("hidrex_safety", "Hidrex safety concept (fault trip at 35 mA)", "P")
HIDREX_POLARITY = _s("hidrex_polarity", "Hidrex polarity page", "P")
HIDREX_DP450 = _s("hidrex_dp450", "Hidrex DP450 manual", "P")
FISCHER_R13 = _s("fischer_r13", "Fischer R13 manual", "P")
HYPERHIDROSIS_UK = _s("hyperhidrosis_uk", "Hyperhidrosis UK iontophoresis protocol", "S")
BAD_LEAFLET = _s("bad_leaflet", "British Association of Dermatologists patient leaflet", "S")
HIDREX_1994 = _s("hidrex_1994", "Hidrex 1994 study summary (maker-sponsored)", "S")
REINAUER_1993 = _s("reinauer_1993", "Reinauer et al., Br J Dermatol 1993", "P")
REINAUER_1995 = _s("reinauer_1995", "Reinauer et al., Hautarzt 1995", "P")
DRUG_IONTO_DENSITY = _s(
    "drug_ionto_density",
    "Drug-iontophoresis practice: ~0.5 mA/cm² ceiling (no tap-water-specific limit)",
    "?",
)
ELECTROTHERAPY_MANUAL = _s(
    "electrotherapy_manual", "Electrotherapy manual: ≤ 0.1 mA/cm² for iontophoresis", "S"
)
BINDNER_SMALLER_ELECTRODE = _s(
    "bindner_smaller_electrode",
    "Bindner (unequal electrodes: density on the smaller wetted area); derived",
    "S",
)
VENDOR_VOLTAGE = _s(
    "vendor_voltage",
    "Vendor specifications; Levit, Cutis 1980; Sinclair, Clin Exp Dermatol 2023",
    "S",
)
VENDOR_RESISTANCE = _s(
    "vendor_resistance", "Vendor shopping advice: body resistance 4–6 kΩ in practice", "S"
)
SOTERIX_IONTODC = _s("soterix_iontodc", "Soterix IontoDC (30 s ramps)", "S")
DOLIANITIS_2004 = _s("dolianitis_2004", "Dolianitis et al., Australas J Dermatol 2004", "P")
DERIVED = _s("derived", "Ionto derived proposal (clinical-reference §8), needs sign-off", "D")

# --- Course structure ----------------------------------------------------------------------
SIAH_HAMPTON_2013 = _s(
    "siah_hampton_2013", "Siah & Hampton, Dermatol Online J 2013 (Newcastle audit)", "P"
)
ROTHERHAM = _s("rotherham", "Rotherham NHS iontophoresis leaflet", "S")
KENT_MEDWAY = _s("kent_medway", "Kent & Medway commissioning policy", "P")
SWISS_GERMAN_CLINICS = _s("swiss_german_clinics", "Swiss and German clinics", "S")
DERMADRY = _s("dermadry", "Dermadry usage guidance", "S")
HOLZLE_ALBERTI_1987 = _s("holzle_alberti_1987", "Hölzle & Alberti, Dermatologica 1987", "P")
GULMEZ_SOLAK_2026 = _s("gulmez_solak_2026", "Gülmez & Solak, J Clin Med 2026", "P")
KIM_2017 = _s("kim_2017", "Kim et al., Ann Dermatol 2017", "P")
GOLLINS_2019 = _s("gollins_2019", "Gollins et al., J Dermatol Treat 2019", "P")
SWEATLESS_CA = _s("sweatless_ca", "Canadian committee as summarised by sweatless.ca", "?")
GREATER_MANCHESTER = _s("greater_manchester", "Greater Manchester policy GM016", "P")

# --- Outcome measures ----------------------------------------------------------------------
HDSS = _s("hdss", "Hyperhidrosis Disease Severity Scale (Solish et al. 2007)", "P")
DLQI = _s("dlqi", "DLQI, Finlay & Khan, Clin Exp Dermatol 1994", "P")
HIDROQOL = _s("hidroqol", "HidroQoL: Kamudoni et al. 2015; Gabes et al., Br J Dermatol 2021", "P")
THORLACIUS_2015 = _s("thorlacius_2015", "Thorlacius et al., Int J Dermatol 2015", "P")
GERMAN_INSURERS = _s("german_insurers", "German health insurers' gravimetry thresholds", "S")
STEFANIAK_2013 = _s("stefaniak_2013", "Stefaniak et al., Clin Auton Res 2013", "P")
NCT03658616 = _s("nct03658616", "ClinicalTrials.gov NCT03658616 response thresholds", "P")
MINOR_STARCH_IODINE = _s("minor_starch_iodine", "Minor's starch-iodine test", "P")
