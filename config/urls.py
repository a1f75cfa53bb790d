"""URL map: the admin, and the REST API at the site root (health, readiness, devices, …)."""

from django.contrib import admin
from django.urls import path

from whatsapp.api.site import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", api.urls),
]

handler400 = "whatsapp.http.bad_request"
handler403 = "whatsapp.http.permission_denied"
handler404 = "whatsapp.http.page_not_found"
handler500 = "whatsapp.http.server_error"
