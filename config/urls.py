"""URL map: admin, health/readiness, and (with later issues) the REST API at the site root."""

from django.contrib import admin
from django.urls import path

from whatsapp import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
]

handler400 = "whatsapp.http.bad_request"
handler403 = "whatsapp.http.permission_denied"
handler404 = "whatsapp.http.page_not_found"
handler500 = "whatsapp.http.server_error"
