from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ionto.clinic.api import api

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="clinic/login.html",
            # The demo centre's logins are shown on the login page, in demo mode only.
            extra_context={"demo": settings.DEMO},
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("sessions/", include("ionto.clinic.pages.session_urls")),
    path("letters/", include("ionto.clinic.pages.letter_urls")),
    path("", include("ionto.clinic.pages.urls")),
]
