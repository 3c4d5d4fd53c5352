"""The web pages a nurse, a clinician, reception and a patient use."""
