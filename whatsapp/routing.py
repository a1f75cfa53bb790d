"""Websocket routes (Channels). The live device pages add their consumers here."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
