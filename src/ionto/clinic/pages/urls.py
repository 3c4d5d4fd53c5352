"""The pages a nurse, a clinician, reception and a patient use (names used by ``{% url %}``)."""

from __future__ import annotations

from django.urls import path

from ionto.clinic.pages import booking_views, course_booking, record_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("patients/", views.patient_search, name="patient_search"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("practices/new/", views.practice_new, name="practice_new"),
    path("referrals/new/", views.referral_new, name="referral_new"),
    path("referrals/<int:pk>/", record_views.referral_detail, name="referral"),
    path("referrals/<int:pk>/funding/", record_views.funding_decide, name="funding"),
    path("referrals/<int:pk>/consultation/", record_views.consultation, name="consultation"),
    path("referrals/<int:pk>/consent/", record_views.consent, name="consent"),
    path("referrals/<int:pk>/baseline/", record_views.baseline, name="baseline"),
    path("referrals/<int:pk>/plan/", record_views.plan, name="plan"),
    path("courses/<int:pk>/visits/", booking_views.course_visits, name="course_visits"),
    path("courses/<int:pk>/book/", course_booking.course_book, name="course_book"),
    path("courses/<int:pk>/verdict/", booking_views.verdict, name="verdict"),
    path("visits/<int:pk>/move/", booking_views.visit_move, name="visit_move"),
    path("visits/<int:pk>/cancel/", booking_views.visit_cancel, name="visit_cancel"),
    path("information-sheet/", views.information_sheet, name="information_sheet"),
]
