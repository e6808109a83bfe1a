"""Per-address limits of the authorization server's open doors: dynamic client registration,
the token endpoint and the consent page (RATE_LIMIT_OAUTH_*).

The address is also kept for the request (`core.rate_limiting.current_ip`), so that fetching a
client metadata document no one has named before counts against whoever named it.
"""

from functools import wraps

from django.conf import settings
from django.http import JsonResponse

from core import rate_limiting


def limited_per_address(setting: str, name: str):
    """Wrap a view: past the rate in `settings.<setting>`, 429 with Retry-After."""

    def decorate(view):
        @wraps(view)
        def limited(request, *args, **kwargs):
            address = rate_limiting.request_ip(request)
            refusal = rate_limiting.hit(getattr(settings, setting), "oauth", name, address)
            if refusal is not None:
                response = JsonResponse(
                    {
                        "error": "too_many_requests",
                        "error_description": (
                            f"Too many {name} requests from your address (limit {refusal.rate}); "
                            f"retry in {refusal.retry_after} seconds."
                        ),
                    },
                    status=429,
                )
                response["Retry-After"] = str(refusal.retry_after)
                return response
            token = rate_limiting.current_ip.set(address)
            try:
                return view(request, *args, **kwargs)
            finally:
                rate_limiting.current_ip.reset(token)

        return limited

    return decorate
