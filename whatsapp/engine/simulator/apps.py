from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "whatsapp.engine.simulator"
    label = "simulator"
    verbose_name = "WhatsApp simulator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from whatsapp.engine.simulator import changes  # noqa: F401  (world-change signal receivers)
