"""The REST API (django-ninja): routers per resource family, mounted by ``whatsapp.api.site``."""
