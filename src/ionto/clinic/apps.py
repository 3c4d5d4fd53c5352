from __future__ import annotations

from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "ionto.clinic"
    label = "clinic"
    verbose_name = "Ionto clinic"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from ionto.clinic.roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
