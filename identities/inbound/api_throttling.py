"""DRF throttles of the management API, counted in the rate-limit storage (core/rate_limiting.py).

A request authenticated by an API token counts against that token, one signed in to the console
against the person; an unauthenticated one against the client's address (never a forwarded
header unless it came through TRUSTED_PROXIES). Rates are REST_FRAMEWORK's
DEFAULT_THROTTLE_RATES (`token`, `anonymous`), written as `limits` rates ("600/minute").
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core import rate_limiting


class _RateThrottle(BaseThrottle):
    scope = ""
    refusal: rate_limiting.Refusal | None = None

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view):
        identity = self.identity(request)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if identity is None or not rate:
            return True
        self.refusal = rate_limiting.hit(rate, "api", self.scope, identity)
        return self.refusal is None

    def wait(self):
        return self.refusal.retry_after if self.refusal else None


class TokenRateThrottle(_RateThrottle):
    scope = "token"

    def identity(self, request):
        if request.auth is not None and getattr(request.auth, "pk", None) is not None:
            return f"t{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return f"u{request.user.pk}"
        return None


class AddressRateThrottle(_RateThrottle):
    scope = "anonymous"

    def identity(self, request):
        if request.user and request.user.is_authenticated:
            return None
        return rate_limiting.request_ip(request)
