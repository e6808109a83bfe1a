"""allauth customisation: sign-ups are closed unless the platform opens them; the client
address its rate limits count by is found as everywhere else (core/rate_limiting.py)."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from core import rate_limiting


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_SIGNUPS

    def get_client_ip(self, request):
        # ACCOUNT_RATE_LIMITS count per address: the one TRUSTED_PROXIES vouch for.
        return rate_limiting.request_ip(request)
