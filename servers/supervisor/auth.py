"""The shared secret between gateway workers and the supervisor.

Both sides derive the token from SECRET_KEY, so nothing has to be distributed; the gateway's
upstream client imports `supervisor_token()` and sends it in `SUPERVISOR_HEADER`.
"""

import hashlib
import hmac
import ipaddress

from django.conf import settings

SUPERVISOR_HEADER = "X-Gatehouse-Supervisor"
_PURPOSE = b"managed-supervisor"


def supervisor_token() -> str:
    """HMAC-SHA256(SECRET_KEY, "managed-supervisor"), hex."""
    return hmac.new(settings.SECRET_KEY.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def token_is_valid(presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), supervisor_token().encode())


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
