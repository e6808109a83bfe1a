"""The values planted in the corpus, and the decoys, each made fresh from the corpus's generator.

Secrets with a shape of their own are built from the catalogue's sample recipes
(`rules/detectors/secret_kinds.py`); secrets that need their context (an AWS secret key, a
password) come with the name a program would give them. Personal data carries valid checksums
(Luhn, ISO 13616), so a detector that checks them has to find it.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass

from rules.detectors.secret_kinds import BY_KIND

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64URL = ALNUM + "_-"

# Kinds whose value is the catalogue's sample, under the name a program would use.
SHAPED = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "google_api_key": "GOOGLE_MAPS_API_KEY",
    "github_pat": "GITHUB_TOKEN",
    "github_fine_grained_pat": "GH_RELEASE_TOKEN",
    "gitlab_pat": "GITLAB_TOKEN",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_webhook": "SLACK_WEBHOOK_URL",
    "stripe_secret_key": "STRIPE_SECRET_KEY",
    "twilio_api_key": "TWILIO_API_KEY",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "mailchimp_api_key": "MAILCHIMP_API_KEY",
    "npm_token": "NPM_TOKEN",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "pypi_token": "PYPI_UPLOAD_TOKEN",
    "square_oauth_secret": "SQUARE_APPLICATION_SECRET",
    "digitalocean_pat": "DIGITALOCEAN_TOKEN",
    "huggingface_token": "HF_TOKEN",
    "gatehouse_api_token": "GATEHOUSE_TOKEN",
}
# Kinds made here: the secret, the text it is written in ("{}" is the secret), and its name.
CONTEXTUAL = {
    "aws_secret_access_key": ("{}", "AWS_SECRET_ACCESS_KEY"),
    "password_assignment": ("{}", "DB_PASSWORD"),
    "datadog_api_key": ("{}", "DD_API_KEY"),
    "discord_bot_token": ("{}", "DISCORD_BOT_TOKEN"),
    "credentials_in_url": ("postgres://billing:{}@db.internal:5432/billing", "DATABASE_URL"),
    "authorization_header": ("Bearer {}", "Authorization"),
    "azure_storage_connection_string": (
        "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={};"
        "EndpointSuffix=core.windows.net",
        "AZURE_STORAGE_CONNECTION_STRING",
    ),
    "private_key": ("{}", "TLS_PRIVATE_KEY"),
    "jwt": ("{}", "SESSION_JWT"),
}
SECRET_KINDS: tuple[str, ...] = (*SHAPED, *CONTEXTUAL)
PII_KINDS: tuple[str, ...] = ("email", "phone", "card", "ssn", "iban")
DECOY_KINDS: tuple[str, ...] = (
    "uuid",
    "git_sha",
    "sha256_digest",
    "md5_etag",
    "npm_integrity",
    "base64_image",
    "stripe_object_id",
    "aws_documented_example",
    "placeholder",
)
FIRST = ["jane", "omar", "li", "priya", "lucas", "amara", "sven", "mei", "diego", "fatima", "noah"]
LAST = ["doe", "haddad", "wang", "patel", "martin", "okafor", "berg", "chen", "lopez", "khan"]
DOMAINS = ["acme-corp.com", "globex.io", "mail.initech.co.uk", "umbrella.org", "example.net"]
# The AWS documentation's example credentials: published, inert, and everywhere in tutorials.
AWS_EXAMPLES = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
PLACEHOLDERS = ("${DB_PASSWORD}", "<your-api-key>", "********", "{{ vault_token }}")


@dataclass(frozen=True)
class Label:
    """One planted value (`planted=True`) or one decoy, as it appears in the record's strings."""

    value: str
    kind: str
    planted: bool


@dataclass(frozen=True)
class Planted:
    kind: str
    name: str
    text: str  # what is written after the name (the secret, or the secret in its context)
    secret: str  # what a detector must find, and redaction must remove


class Planter:
    """Makes one record's values and remembers their labels."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._labels: list[Label] = []

    def labels(self) -> list[Label]:
        return list(dict.fromkeys(self._labels))

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # -- Planted -------------------------------------------------------------------------------

    def secret(self, kind: str) -> Planted:
        if kind in SHAPED:
            value = "".join(
                p if isinstance(p, str) else self.chars(*p) for p in BY_KIND[kind].sample
            )
            planted = Planted(kind, SHAPED[kind], value, value)
        else:
            template, name = CONTEXTUAL[kind]
            value = getattr(self, "_" + kind)()
            planted = Planted(kind, name, template.format(value), value)
        self._labels.append(Label(planted.secret, kind, True))
        return planted

    def pii(self, kind: str) -> str:
        value = getattr(self, "_" + kind)()
        self._labels.append(Label(value, kind, True))
        return value

    def _aws_secret_access_key(self) -> str:
        return self.chars(ALNUM + "/+", 40)

    def _password_assignment(self) -> str:
        # Starts with a letter and holds a digit: a value, not a placeholder or a code reference.
        return self.chars(string.ascii_letters, 1) + self.chars(ALNUM + "!#%*-_.^~", 13) + "7"

    def _datadog_api_key(self) -> str:
        return self.chars(HEX, 32)

    def _discord_bot_token(self) -> str:
        return f"M{self.chars(ALNUM, 25)}.{self.chars(B64URL, 6)}.{self.chars(ALNUM, 38)}"

    def _credentials_in_url(self) -> str:
        return self.chars(ALNUM, 20)

    def _authorization_header(self) -> str:
        return self.chars(ALNUM, 40)

    def _azure_storage_connection_string(self) -> str:
        return self.chars(ALNUM + "+/", 86) + "=="

    def _private_key(self) -> str:
        body = base64.b64encode(self.rng.randbytes(600)).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        block = "\n".join(lines)
        return f"-----BEGIN RSA PRIVATE KEY-----\n{block}\n-----END RSA PRIVATE KEY-----"

    def _jwt(self) -> str:
        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        claims = {"sub": str(self.rng.randrange(10**6)), "iat": 1775900000, "scope": "billing"}
        sig = base64.urlsafe_b64encode(self.rng.randbytes(32)).decode().rstrip("=")
        return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{sig}"

    def _email(self) -> str:
        rng = self.rng
        local = f"{rng.choice(FIRST)}.{rng.choice(LAST)}"
        if rng.random() < 0.3:
            local += str(rng.randrange(10, 99))
        return f"{local}@{rng.choice(DOMAINS)}"

    def _phone(self) -> str:
        rng = self.rng
        line = f"{rng.randrange(10000):04d}"
        area = rng.randrange(201, 989)
        return rng.choice(
            [
                f"+1 {area} 555 {line}",
                f"({area}) 555-{line}",
                f"{area}-555-{line}",
                f"+44 20 7946 {line}",
                f"+33 1 42 68 {line[:2]} {line[2:]}",
            ]
        )

    def _card(self) -> str:
        rng = self.rng
        prefix, length = rng.choice([("4", 16), ("5" + str(rng.randrange(1, 6)), 16), ("37", 15)])
        digits = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        digits += str(_luhn_check_digit(digits))
        style = rng.randrange(3)
        if style == 0:
            return digits
        groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
        parts, at = [], 0
        for g in groups:
            parts.append(digits[at : at + g])
            at += g
        return (" " if style == 1 else "-").join(parts)

    def _ssn(self) -> str:
        rng = self.rng
        area = rng.choice([a for a in range(1, 900) if a != 666])
        return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"

    def _iban(self) -> str:
        rng = self.rng
        country, bban = rng.choice(
            [
                ("DE", "".join(str(rng.randrange(10)) for _ in range(18))),
                ("GB", "WEST" + "".join(str(rng.randrange(10)) for _ in range(14))),
                ("NL", "ABNA" + "".join(str(rng.randrange(10)) for _ in range(10))),
            ]
        )
        number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
        iban = f"{country}{98 - number % 97:02d}{bban}"
        if rng.random() < 0.5:
            return iban
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    # -- Decoys --------------------------------------------------------------------------------

    def decoy(self, kind: str) -> str:
        value = getattr(self, "_decoy_" + kind)()
        self._labels.append(Label(value, kind, False))
        return value

    def _decoy_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _decoy_git_sha(self) -> str:
        return self.chars(HEX, 40)

    def _decoy_sha256_digest(self) -> str:
        return "sha256:" + self.chars(HEX, 64)

    def _decoy_md5_etag(self) -> str:
        return self.chars(HEX, 32)

    def _decoy_npm_integrity(self) -> str:
        return "sha512-" + base64.b64encode(self.rng.randbytes(64)).decode()

    def _decoy_base64_image(self) -> str:
        png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + self.rng.randbytes(900)
        return "data:image/png;base64," + base64.b64encode(png).decode()

    def _decoy_stripe_object_id(self) -> str:
        return self.rng.choice(["cus_", "pi_", "ch_", "evt_"]) + self.chars(ALNUM, 24)

    def _decoy_aws_documented_example(self) -> str:
        return self.rng.choice(AWS_EXAMPLES)

    def _decoy_placeholder(self) -> str:
        return self.rng.choice(PLACEHOLDERS)


def _luhn_check_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10
