"""SAML 2.0 single sign-on: a workspace's identity provider as allauth's `saml` app.

`check_saml` checks what an admin entered (the IdP's entity id, sign-in URL and signing
certificate, or a metadata URL they are read from through the SSRF-guarded session) and returns
the values to store. `saml_app_settings` builds the settings of allauth's app: assertions must be
signed, every response must answer a request this platform sent (InResponseTo, consumed once),
and sign-ins the IdP starts on its own are refused. `saml_claims` gives the adapter the same
claims an OpenID Connect sign-in gives, so one provisioning path serves both protocols.

SAML needs the `saml` extra (python3-saml, xmlsec, lxml); without it the platform runs and
refuses SAML settings (settings.SSO_SAML_AVAILABLE).
"""

import base64
import binascii
import re
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.urls import reverse

from core.errors import ValidationFailed
from teams.sso.fetch import allowed_schemes, check_fetch_url, guarded_session

try:
    from lxml.etree import LxmlError
    from onelogin.saml2.errors import OneLogin_Saml2_Error
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
except Exception:  # not installed, or xmlsec's libxml2 is not lxml's: see SSO_SAML_AVAILABLE
    LxmlError = OneLogin_Saml2_Error = OneLogin_Saml2_IdPMetadataParser = None

# What starting a SAML sign-in may raise when the stored settings no longer suit python3-saml.
SAML_ERRORS = (OneLogin_Saml2_Error,) if OneLogin_Saml2_Error else ()
# The SAML settings an admin enters, as named in the form, the API and configure_sso.
SAML_FIELDS = (
    "idp_entity_id",
    "idp_sso_url",
    "idp_x509cert",
    "idp_metadata_url",
    "email_attribute",
    "first_name_attribute",
    "last_name_attribute",
)
_ATTRIBUTE = re.compile(r"^[A-Za-z0-9_.:/#-]{1,255}$")
_PEM_ARMOUR = re.compile(r"-----(BEGIN|END) CERTIFICATE-----|\s")


def saml_available() -> bool:
    return settings.SSO_SAML_AVAILABLE


def service_provider_urls(request, provider_id: str) -> dict | None:
    """What an admin registers at the IdP: the SP's metadata URL (its entity id) and ACS URL."""
    if not saml_available():
        return None
    return {
        name: request.build_absolute_uri(reverse(f"saml_{name}", args=[provider_id]))
        for name in ("metadata", "acs")
    }


def certificate_pem(text: str, *, field: str = "idp_x509cert") -> str:
    """The IdP's signing certificate as PEM, from PEM or bare base64 DER."""
    try:
        der = base64.b64decode(_PEM_ARMOUR.sub("", text or ""), validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            "The IdP certificate is not an X.509 certificate (paste it in PEM form).", field=field
        ) from exc
    return certificate.public_bytes(Encoding.PEM).decode()


def _sign_in_url(url: str) -> str:
    # The browser is sent there, the platform never fetches it: only the scheme matters.
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in allowed_schemes() or not parts.hostname:
        raise ValidationFailed("The IdP sign-in URL must be an https URL.", field="idp_sso_url")
    return url


def read_metadata(url: str, *, entity_id: str = "") -> dict:
    """The IdP's entity id, sign-in URL (HTTP-Redirect binding) and signing certificate."""
    url = check_fetch_url(url, field="idp_metadata_url", what="The metadata URL")
    session = guarded_session(timeout=settings.SOCIALACCOUNT_REQUESTS_TIMEOUT)
    try:
        response = session.get(url, headers={"Accept": "application/samlmetadata+xml"})
        response.raise_for_status()
    except requests.HTTPError as exc:
        raise ValidationFailed(
            f"The metadata URL answered HTTP {exc.response.status_code}.", field="idp_metadata_url"
        ) from exc
    except requests.RequestException as exc:
        raise ValidationFailed(
            "Could not read the metadata URL (refused, unreachable, redirected or too large).",
            field="idp_metadata_url",
        ) from exc
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            response.content, entity_id=entity_id or None
        )
    except (ValueError, LxmlError) as exc:
        raise ValidationFailed(
            "The metadata URL did not return SAML metadata.", field="idp_metadata_url"
        ) from exc
    idp = parsed.get("idp") or {}
    certificate = idp.get("x509cert") or next(
        iter((idp.get("x509certMulti") or {}).get("signing") or []), ""
    )
    if not idp.get("singleSignOnService", {}).get("url") or not certificate:
        raise ValidationFailed(
            "The metadata names no identity provider with an HTTP-Redirect sign-in URL and a "
            "signing certificate.",
            field="idp_metadata_url",
        )
    return {
        "idp_entity_id": idp["entityId"],
        "idp_sso_url": idp["singleSignOnService"]["url"],
        "idp_x509cert": certificate,
        "idp_metadata_url": url,
    }


def _attribute(name: str, field: str) -> str:
    name = (name or "").strip()
    if name and not _ATTRIBUTE.match(name):
        raise ValidationFailed("This is not a SAML attribute name.", field=field)
    return name


def check_saml(
    *,
    idp_entity_id: str,
    idp_sso_url: str,
    idp_x509cert: str,
    idp_metadata_url: str,
    email_attribute: str,
    first_name_attribute: str,
    last_name_attribute: str,
) -> dict:
    """The SAML fields of WorkspaceSso to store, checked; ValidationFailed names the field."""
    if not saml_available():
        raise ValidationFailed(
            "SAML is not available on this platform: install the `saml` extra "
            "(python3-saml and xmlsec).",
            field="protocol",
        )
    idp_entity_id = (idp_entity_id or "").strip()
    if (idp_metadata_url or "").strip():
        values = read_metadata(idp_metadata_url, entity_id=idp_entity_id)
    else:
        if not idp_entity_id:
            raise ValidationFailed(
                "Enter the IdP entity id, or a metadata URL.", field="idp_entity_id"
            )
        values = {
            "idp_entity_id": idp_entity_id,
            "idp_sso_url": idp_sso_url,
            "idp_x509cert": idp_x509cert,
            "idp_metadata_url": "",
        }
    for field in ("idp_entity_id", "idp_sso_url"):
        if len(values[field]) > 500:
            raise ValidationFailed("This is longer than 500 characters.", field=field)
    values["idp_sso_url"] = _sign_in_url(values["idp_sso_url"])
    values["idp_x509cert"] = certificate_pem(values["idp_x509cert"])
    values["email_attribute"] = _attribute(email_attribute, "email_attribute")
    values["first_name_attribute"] = _attribute(first_name_attribute, "first_name_attribute")
    values["last_name_attribute"] = _attribute(last_name_attribute, "last_name_attribute")
    return values


def saml_app_settings(sso) -> dict:
    """allauth's settings of the workspace's `saml` app (SocialApp.settings)."""
    mapping = {
        key: name
        for key, name in (
            ("email", sso.email_attribute),
            ("first_name", sso.first_name_attribute),
            ("last_name", sso.last_name_attribute),
        )
        if name
    }
    return {
        "idp": {
            "entity_id": sso.idp_entity_id,
            "sso_url": sso.idp_sso_url,
            "x509cert": sso.idp_x509cert,
        },
        # The NameID is the account's uid; without an email attribute it is the address too.
        "attribute_mapping": mapping,
        "use_nameid_for_email": not sso.email_attribute,
        "advanced": {
            "strict": True,
            "want_assertion_signed": True,
            "want_name_id": True,
            "reject_idp_initiated_sso": True,
            # Hosts such as an internal `gatehouse` are fine: the URLs were checked on save.
            "allow_single_label_domains": True,
        },
    }


def saml_claims(sso, *, attributes: dict, name_id: str | None) -> dict:
    """The IdP's attributes as claims: multi-valued as SAML gives them, the email a string."""
    if sso.email_attribute:
        values = attributes.get(sso.email_attribute) or []
        email = values[0] if values else None
    else:
        email = name_id
    return {**attributes, "email": email}
