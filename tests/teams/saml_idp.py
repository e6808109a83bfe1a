"""A small SAML 2.0 identity provider for the tests, on a real socket.

It serves its metadata, takes the platform's AuthnRequest over the HTTP-Redirect binding, shows a
sign-in form, and answers with a Response whose assertion it signs with its own key (RSA-SHA256,
exclusive C14N, through python3-saml's signing on lxml and xmlsec), posted to the service
provider's ACS URL by the browser (HTTP-POST binding). It only answers the service provider it
was registered with. `signs` says what it signs (the assertion, only the response around it,
or nothing) and `tamper` changes a signed assertion, so the tests can show what the platform
refuses.
"""

import base64
import datetime
import html
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def self_signed(common_name: str) -> tuple[str, str]:
    """A fresh RSA key and a self-signed certificate for it, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def _instant(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificate_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


class SamlIdentityProvider:
    """The IdP, its people ({login: {...}}) and the service provider registered with it."""

    def __init__(self, *, sp_entity_id: str, acs_url: str):
        self.sp_entity_id = sp_entity_id
        self.acs_url = acs_url
        self.own_key_pair = self_signed("Test IdP")
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.entity_id = f"{self.base}/metadata"
        self.sso_url = f"{self.base}/sso"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.key, self.certificate = self.own_key_pair
        self.people: dict[str, dict] = {}
        self.signs = "assertion"  # or "response", or None
        self.tamper = None  # a function of the signed assertion's XML text
        self.responses: list[str] = []  # every SAMLResponse posted, base64

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def person(self, login, email, groups=(), name_id=None, given_name="", family_name=""):
        self.people[login] = {
            "email": email,
            "groups": list(groups),
            "name_id": name_id or email,
            "given_name": given_name,
            "family_name": family_name,
        }

    def metadata(self) -> str:
        return (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f"entityID={quoteattr(self.entity_id)}>"
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing">'
            '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
            f"<ds:X509Certificate>{_certificate_body(self.certificate)}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            f"<md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f"Location={quoteattr(self.sso_url)}/>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    def read_request(self, saml_request: str) -> dict:
        """The AuthnRequest of the HTTP-Redirect binding: base64 of raw DEFLATE."""
        xml = zlib.decompress(base64.b64decode(saml_request), -15)
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
        issuer = root.find(f"{{{SAML}}}Issuer")
        return {
            "id": root.get("ID"),
            "acs_url": root.get("AssertionConsumerServiceURL"),
            "issuer": issuer.text if issuer is not None else None,
        }

    def assertion(self, person: dict, request_id: str) -> str:
        now = datetime.datetime.now(datetime.UTC)
        later = _instant(now + datetime.timedelta(minutes=5))
        attributes = {
            "email": [person["email"]],
            "groups": person["groups"],
            "givenName": [person["given_name"]] if person["given_name"] else [],
            "sn": [person["family_name"]] if person["family_name"] else [],
        }
        statements = "".join(
            f"<saml:Attribute Name={quoteattr(name)}>"
            + "".join(f"<saml:AttributeValue>{escape(v)}</saml:AttributeValue>" for v in values)
            + "</saml:Attribute>"
            for name, values in attributes.items()
            if values
        )
        xml = (
            f'<saml:Assertion xmlns:saml="{SAML}" ID="_{uuid.uuid4().hex}" Version="2.0" '
            f'IssueInstant="{_instant(now)}">'
            f"<saml:Issuer>{escape(self.entity_id)}</saml:Issuer>"
            "<saml:Subject>"
            f'<saml:NameID Format="{EMAIL_FORMAT}">{escape(person["name_id"])}</saml:NameID>'
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{later}" '
            f"Recipient={quoteattr(self.acs_url)} InResponseTo={quoteattr(request_id)}/>"
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{_instant(now - datetime.timedelta(minutes=1))}" '
            f'NotOnOrAfter="{later}"><saml:AudienceRestriction>'
            f"<saml:Audience>{escape(self.sp_entity_id)}</saml:Audience>"
            "</saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{_instant(now)}" '
            f'SessionIndex="_{uuid.uuid4().hex}"><saml:AuthnContext><saml:AuthnContextClassRef>'
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            f"<saml:AttributeStatement>{statements}</saml:AttributeStatement>"
            "</saml:Assertion>"
        )
        if self.signs == "assertion":
            xml = self._signed(xml)
        if self.tamper is not None:
            xml = self.tamper(xml)
        return xml

    def _signed(self, xml: str) -> str:
        signed = OneLogin_Saml2_Utils.add_sign(xml, self.key, self.certificate)
        return signed.decode() if isinstance(signed, bytes) else signed

    def response(self, person: dict, request_id: str) -> str:
        now = _instant(datetime.datetime.now(datetime.UTC))
        xml = (
            f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" '
            f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{now}" '
            f"Destination={quoteattr(self.acs_url)} InResponseTo={quoteattr(request_id)}>"
            f"<saml:Issuer>{escape(self.entity_id)}</saml:Issuer>"
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            "</samlp:Status>"
            f"{self.assertion(person, request_id)}"
            "</samlp:Response>"
        )
        if self.signs == "response":
            xml = self._signed(xml)  # the first Issuer is the response's: its parent is signed
        encoded = base64.b64encode(xml.encode()).decode()
        self.responses.append(encoded)
        return encoded


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def _handler(idp: SamlIdentityProvider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet: the tests report what matters
            pass

        def _send(self, status, body: bytes, content_type="text/html; charset=utf-8"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/metadata":
                return self._send(200, idp.metadata().encode(), "application/samlmetadata+xml")
            if url.path != "/sso":
                return self._send(404, _page("Not found", ""))
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            request = idp.read_request(query["SAMLRequest"])
            if request["issuer"] != idp.sp_entity_id or request["acs_url"] != idp.acs_url:
                return self._send(400, _page("Unknown service provider", ""))
            hidden = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
                for name, value in (
                    ("request_id", request["id"]),
                    ("RelayState", query.get("RelayState", "")),
                )
            )
            form = (
                '<form method="post" action="/sso">'
                '<label for="login">Username</label><input id="login" name="login">'
                f'{hidden}<button type="submit">Sign in at the IdP</button></form>'
            )
            return self._send(200, _page("Test IdP", form))

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            person = idp.people.get(form.get("login", ""))
            if person is None:
                return self._send(200, _page("Unknown user", ""))
            saml_response = idp.response(person, form["request_id"])
            relay = form.get("RelayState", "")
            body = (
                f'<form method="post" action="{html.escape(idp.acs_url)}">'
                f'<input type="hidden" name="SAMLResponse" value="{saml_response}">'
                f'<input type="hidden" name="RelayState" value="{html.escape(relay)}">'
                '<button type="submit">Continue to the service</button></form>'
            )
            return self._send(200, _page("Signed in", body))

    return Handler
