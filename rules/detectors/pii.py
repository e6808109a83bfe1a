"""Personal data: email addresses, phone numbers, payment cards, US SSNs, IBANs, IP addresses.

Candidates found by the expressions are confirmed where a checksum or a grammar exists (Luhn and
the issuer's prefix for cards, ISO 13616 mod-97 and the country's length for IBANs, `ipaddress`
for IPs), so a random 16-digit number or an IBAN with a wrong check digit is not reported.
"""

from __future__ import annotations

import ipaddress
import re

from rules.budget import check
from rules.detectors import digit_runs
from rules.detectors.base import Detector, Match, check_settings, non_overlapping
from rules.prefilter import Expression
from rules.setting_fields import MULTI_CHOICE, Setting

KINDS = ("email", "phone", "card", "ssn", "iban", "ipv4", "ipv6")
ALIASES = {"ip": ("ipv4", "ipv6"), "credit_card": ("card",), "payment_card": ("card",)}

# Each numeric expression starts with a character class, which lets `re` skip ahead fast.
_NUMERIC = {
    # Bounded like a word on both sides, so a UUID's all-digit groups are not a card.
    "card": r"(?P<card>\d(?<![\w.-]\d)(?:[ -]?\d){12,18}(?![\w-]|\.\d))",
    "ssn": r"(?P<ssn>\d(?<![\d-]\d)(?!00-|66-)\d\d-(?!00)\d{2}-(?!0000)\d{4}(?![\d-]))",
    "phone": (
        r"(?P<phone>\+(?<![\w+]\+)[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}"
        r"(?:[ .-]?\d{2,4}){1,4}(?![\w-])"
        r"|[(\d](?<![\w(-][(\d])(?:(?<=\()\d{3}\)\s?|(?<=\d)\d{2}[-.])\d{3}[-.]\d{4}(?![\w-]))"
    ),
    "ipv4": r"(?P<ipv4>\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w]|\.\d))",
}
# A run of at least 9 digits (`digit_runs.RUN`) gates phone, card, SSN and IBAN checks; an IPv4
# address has a shape of its own.
_RUN = digit_runs.RUN
# The tag of an "@" in a multi-pattern scan.
_AT = "@"
# What an SSN or a phone number without a country code ends in (a UUID's groups go on).
_SEPARATED = re.compile(r"[0-9][-.][0-9]{4}(?![0-9-])")
# What an IBAN must hold near its run: the country code and the check digits.
_IBAN_START = re.compile(r"[A-Z]{2}\d\d")
# What an email address must hold after its "@": a dotted domain ending in a top-level name.
_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_DOTTED = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
# The local part's repeat is possessive: "@" is not among its characters, so giving some back
# could never let the "@" match.
_EMAIL = re.compile(
    r"[A-Za-z0-9](?<![\w.+-][A-Za-z0-9])[A-Za-z0-9._%+-]{0,63}+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:])"
)
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}:")
# IBAN lengths by country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _issuer_known(d: str) -> bool:
    """Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro by prefix and length."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    two, four = int(d[:2]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith(("6011", "65")) or 644 <= int(d[:3]) <= 649 or two == 62:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if two in (50, 56, 57, 58, 63, 67):
        return 12 <= n <= 19
    return False


def card_valid(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and _issuer_known(digits) and luhn_valid(digits)


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone_valid(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return 10 <= digits <= 15


def _ipv6_valid(text: str) -> bool:
    if len(_HEX_GROUP.findall(text)) < 2:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ipv4_valid(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_CHECKS = {"card": card_valid, "phone": _phone_valid}


def _all_ats(text: str):
    at = text.find("@")
    while at != -1:
        yield at
        at = text.find("@", at + 1)


class PiiDetector(Detector):
    key = "pii"
    label = "Personal data"
    settings = (
        Setting(
            "kinds",
            "PII kinds",
            MULTI_CHOICE,
            help="None chosen: every kind.",
            default=[],
            choices=(
                ("email", "Email addresses"),
                ("phone", "Phone numbers"),
                ("card", "Payment cards (Luhn-checked)"),
                ("ssn", "US social security numbers"),
                ("iban", "IBANs (checksum)"),
                ("ipv4", "IPv4 addresses"),
                ("ipv6", "IPv6 addresses"),
                ("ip", "IP addresses (both)"),
                ("credit_card", "Payment cards (another name)"),
                ("payment_card", "Payment cards (another name)"),
            ),
        ),
    )

    @classmethod
    def clean_config(cls, config):
        config = check_settings(cls.settings, config)
        kinds = {kind for name in config["kinds"] for kind in ALIASES.get(name, (name,))}
        config["kinds"] = [k for k in KINDS if k in kinds] or list(KINDS)
        return config

    def __init__(self, config):
        super().__init__(config)
        kinds = set(config.get("kinds") or KINDS)
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self._email = "email" in kinds
        self._iban = "iban" in kinds
        self._ipv4 = "ipv4" in kinds
        self._ipv6 = "ipv6" in kinds
        numeric = [p for kind, p in _NUMERIC.items() if kind in kinds and kind != "ipv4"]
        # One pass over each gated window for every numeric kind.
        self._numeric = re.compile("|".join(numeric)) if numeric else None
        self._ipv4_regex = re.compile(_NUMERIC["ipv4"])

    def locate(self, text: str, lowered: str) -> list[int]:
        # Every expression needs an "@" before a domain, a run of digits that one of the numeric
        # kinds could match in or an IBAN could lie beside, or a dotted or colon-separated group;
        # none of them spans the newline or the "=" between the parts of `text`. Runs are judged
        # here on the joined text, whose windows reach into the neighbouring parts: that can only
        # let a part through, never hold one back.
        offsets: list[int] = []
        if self._email:
            at, seen = text.find("@"), 0
            while at != -1:
                seen += 1
                if not seen & 1023:
                    check()
                if _DOMAIN.match(text, at, at + 257):
                    offsets.append(at)
                at = text.find("@", at + 1)
        if self._numeric is not None or self._iban:
            offsets.extend(start for start, _end, _numeric, _iban in self._runs(text, True))
        if self._ipv4:
            offsets.extend(m.start() for m in _DOTTED.finditer(text))
        if self._ipv6:
            offsets.extend(m.start() for m in _IPV6.finditer(text))
        return offsets

    def expressions(self):
        if self._ipv4 or self._ipv6:
            return None  # their shapes are found by `locate` alone
        numeric = self._numeric is not None
        out = (Expression("@", _AT),) if self._email else ()
        return out + digit_runs.expressions(numeric, self._iban)

    def located(self, text, found):
        # `locate`, with the "@"s and the runs worth judging taken from the scan's reports.
        offsets = []
        for count, (tag, end) in enumerate(found):
            if not count & 1023:
                check()
            if tag is _AT and _DOMAIN.match(text, end - 1, end + 256) is not None:
                offsets.append(end - 1)
        runs = digit_runs.candidate_runs(text, found)
        offsets.extend(start for start, _end, _numeric, _iban in self._judged(text, runs, True))
        return offsets

    def _runs(self, text: str, either: bool = False) -> list[tuple[int, int, bool, bool]]:
        """The runs of digits a numeric kind could match in or an IBAN could lie beside, each
        with which of the two it could be (with `either`, only whether it could be one). Most
        runs (a log line's id, status and duration, a UUID's digits) can be neither, which
        plain string tests tell without another expression."""
        return self._judged(text, (run.span() for run in _RUN.finditer(text)), either)

    def _judged(self, text: str, spans, either: bool = False) -> list[tuple[int, int, bool, bool]]:
        numeric_kinds, iban = self._numeric is not None, self._iban
        # `\d` also takes other scripts' digits, beside a run or in it: only a full search weighs
        # those (`isascii` costs nothing on a str).
        ascii_only = text.isascii()
        out = []
        for start, end in spans:
            numeric = False
            if numeric_kinds:
                digits = text[start:end]
                before = text[start - 1] if start else " "
                numeric = (
                    # A country code starts with "+"; an SSN or a phone number without one ends
                    # in a dash or dot and four digits; a card has 13 digits or more, the first
                    # one after no word character, dot or dash (inside a run: after a space or
                    # a bracket).
                    before == "+"
                    or (
                        ("-" in digits or "." in digits)
                        and _SEPARATED.search(text, start, end + 1) is not None
                    )
                    or (
                        len(digits) >= 13
                        and len(digits) - digits.count(" ") - digits.count("(") - digits.count(")")
                        >= 13
                        and (
                            not (before.isalnum() or before in "_.-")
                            or " " in digits
                            or "(" in digits
                            or ")" in digits
                        )
                    )
                    or not (ascii_only or text[max(0, start - 2) : end + 3].isascii())
                )
            # An IBAN's country code and check digits within reach of the run (`re` clips the
            # window to the text).
            has_iban = (
                iban
                and not (either and numeric)
                and _IBAN_START.search(text, start - 42 if start > 42 else 0, end + 45) is not None
            )
            if numeric or has_iban:
                out.append((start, end, numeric, has_iban))
        return out

    def find(self, text: str, key: str | None = None) -> list[Match]:
        out: list[Match] = []
        if len(text) < 7:
            return out
        if self._email and "@" in text:
            out.extend(self._emails(text))
        if self._numeric is not None or self._iban:
            out.extend(self._numbers(text, self._runs(text)))
        if self._ipv4 and "." in text and _DOTTED.search(text):
            out.extend(
                Match("ipv4", *m.span())
                for m in self._ipv4_regex.finditer(text)
                if _ipv4_valid(m.group())
            )
        if self._ipv6 and text.count(":") >= 2:
            out.extend(
                Match("ipv6", *m.span()) for m in _IPV6.finditer(text) if _ipv6_valid(m.group())
            )
        return non_overlapping(out)

    def find_near(self, text, key, offsets, narrowing=None) -> list[Match]:
        # `locate` pointed at each "@" before a domain and at each run worth a search, judged
        # on the joined text (a superset of what this string alone passes): the other "@"s
        # and runs cannot match, so only these are looked at again.
        if self._ipv4 or self._ipv6 or len(text) < 7:
            return self.find(text, key)
        size = len(text)
        ats = [o for o in offsets if 0 <= o < size and text[o] == "@"]
        starts = [o for o in offsets if 0 <= o < size and text[o] != "@"]
        out: list[Match] = []
        if self._email and ats:
            out.extend(self._emails(text, ats))
        if starts and (self._numeric is not None or self._iban):
            spans = [_RUN.match(text, start).span() for start in starts]
            out.extend(self._numbers(text, self._judged(text, spans)))
        return non_overlapping(out)

    def _emails(self, text: str, ats: list[int] | None = None):
        # Only around each "@": the local part is at most 64 characters, the domain 255.
        end = -1
        for at in _all_ats(text) if ats is None else ats:
            if at > end:
                for m in _EMAIL.finditer(text, max(0, at - 65), min(len(text), at + 257)):
                    # Matches come in order and do not overlap: once one holds this "@" or
                    # starts after it, no later one can hold it.
                    if m.start() > at:
                        break
                    if at < m.end():
                        if m.start() >= end:
                            end = m.end()
                            yield Match("email", m.start(), m.end())
                        break

    def _numbers(self, text: str, runs: list[tuple[int, int, bool, bool]]):
        # Only around each run of digits: a sign or bracket before it, an IBAN's letters.
        seen: set[tuple[int, int]] = set()
        size = len(text)
        for start, end, numeric, iban in runs:
            if numeric:
                pos, stop = max(0, start - 2), min(size, end + 3)
                while (m := self._numeric.search(text, pos, stop)) is not None:
                    kind = m.lastgroup
                    check = _CHECKS.get(kind)
                    if check is not None and not check(m.group()):
                        # A failed candidate may hide a valid one starting inside it.
                        pos = m.start() + 1
                        continue
                    if m.span() not in seen:
                        seen.add(m.span())
                        yield Match(kind, *m.span())
                    pos = m.end()
            if iban:
                for m in _IBAN.finditer(text, max(0, start - 42), min(size, end + 45)):
                    if m.span() not in seen and iban_valid(m.group()):
                        seen.add(m.span())
                        yield Match("iban", *m.span())
