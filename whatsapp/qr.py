"""QR codes as images: what the REST API returns as ``qr_image`` and the admin shows live."""

from __future__ import annotations

from functools import lru_cache

import segno


@lru_cache(maxsize=256)
def data_uri(code: str) -> str:
    """A ``data:image/png;base64,…`` URI of ``code``, large enough to scan from a screen."""
    return segno.make(code, error="l").png_data_uri(scale=6, border=2)
