"""A small enterprise identity provider that issues real ID-JAGs: an RSA key pair, its JWKS
served over HTTP, and assertions signed with PyJWT (`typ` `oauth-id-jag+jwt`)."""

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


class EnterpriseIdp:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.issuer = ""
        self.jwks_url = ""
        self.jwks_fetches = 0
        self.app = Starlette(routes=[Route("/jwks", self._jwks)])

    async def _jwks(self, request):
        self.jwks_fetches += 1
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

    def id_jag(
        self,
        *,
        audience,
        resource,
        client_id,
        sub="u-1",
        email=None,
        key=None,
        typ="oauth-id-jag+jwt",
        kid=None,
        **overrides,
    ) -> str:
        """An ID-JAG; `overrides` replace (or, given None, drop) any claim."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "client_id": client_id,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
            "resource": resource,
            "scope": "mcp",
        }
        if email:
            claims["email"] = email
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"typ": typ, "kid": kid or self.kid}
        )
