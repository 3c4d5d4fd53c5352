"""Treatment sessions on a station: start, the live chart, stop, pain, the record after."""

from __future__ import annotations

from django.urls import path

from ionto.clinic.pages import session_views

urlpatterns = [
    path("visit/<int:visit_id>/start/", session_views.session_start, name="session_start"),
    path("<int:pk>/", session_views.session_live, name="session_live"),
    path("<int:pk>/start/", session_views.session_run, name="session_run"),
    path("<int:pk>/stop/", session_views.session_stop, name="session_stop"),
    path("<int:pk>/pain/", session_views.session_pain, name="session_pain"),
]
