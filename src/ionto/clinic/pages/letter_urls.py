"""Discharge letters (PDF), mounted at ``/letters/``."""

from __future__ import annotations

from django.urls import path

from ionto.clinic.pages import letter_views

urlpatterns = [
    path(
        "referral/<int:referral_id>/",
        letter_views.referral_letters,
        name="letters_for_referral",
    ),
    path("<int:letter_id>.pdf", letter_views.letter_pdf, name="letter_pdf"),
]
