"""Console forms of the servers app: adding a remote, a managed or a workstation server.

Environment values of a managed server are secrets: the field never renders what was typed,
not even when the form comes back with an error, and pages show only the variable names.
"""

from django import forms
from django.conf import settings

from servers.models import Server, server_name_validator


class SecretTextarea(forms.Textarea):
    def format_value(self, value):
        return None


def _seconds_field(label: str, setting: str) -> forms.FloatField:
    """A per-server time bound; empty falls back to the platform's setting."""
    return forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=600,
        label=label,
        help_text=f"Empty: the platform's {setting}.",
    )


class ServerFormBase(forms.Form):
    name = forms.CharField(
        max_length=64,
        validators=[server_name_validator],
        help_text="Lowercase letters, digits, '-' and '_'.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    max_reply_bytes = forms.IntegerField(
        required=False,
        min_value=1,
        label="Largest reply (bytes)",
        help_text="Empty: the platform's UPSTREAM_MAX_REPLY_BYTES.",
    )
    handshake_timeout_seconds = _seconds_field(
        "Handshake timeout (seconds)", "UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS"
    )
    list_deadline_seconds = _seconds_field(
        "List deadline (seconds)", "UPSTREAM_LIST_DEADLINE_SECONDS"
    )


class RemoteServerForm(ServerFormBase):
    kind = Server.Kind.REMOTE
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    transport = forms.ChoiceField(
        choices=[
            (Server.Transport.STREAMABLE_HTTP, Server.Transport.STREAMABLE_HTTP.label),
            (Server.Transport.SSE, Server.Transport.SSE.label),
        ]
    )

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "url": data["url"],
            "transport": data["transport"],
            "max_reply_bytes": data["max_reply_bytes"],
            "handshake_timeout_seconds": data["handshake_timeout_seconds"],
            "list_deadline_seconds": data["list_deadline_seconds"],
        }


class ManagedServerForm(ServerFormBase):
    kind = Server.Kind.MANAGED
    command = forms.CharField(max_length=500, help_text="For example: npx")
    args = forms.CharField(
        required=False,
        label="Arguments",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One argument per line.",
    )
    env = forms.CharField(
        required=False,
        label="Environment",
        widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One NAME=value per line. Values are never shown again.",
    )
    network = forms.BooleanField(
        required=False,
        initial=True,
        label="Network access",
        help_text="Untick to run the server with no network at all.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The operator's list decides; showing it saves a refused submission.
        allowed = settings.MANAGED_ALLOWED_COMMANDS
        self.fields["command"].help_text = (
            f"One of: {', '.join(allowed)}."
            if allowed
            else "This platform allows no command yet (MANAGED_ALLOWED_COMMANDS)."
        )

    def clean_args(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["args"].splitlines() if line.strip()]

    def clean_env(self) -> dict[str, str]:
        env = {}
        for number, line in enumerate(self.cleaned_data["env"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or not name:
                raise forms.ValidationError(f"Line {number} is not NAME=value.")
            env[name] = value
        return env

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "command": data["command"],
            "args": data["args"],
            "env": data["env"],
            "network": data["network"],
            "max_reply_bytes": data["max_reply_bytes"],
            "handshake_timeout_seconds": data["handshake_timeout_seconds"],
            "list_deadline_seconds": data["list_deadline_seconds"],
        }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class WorkstationServerForm(ServerFormBase):
    """A server a connector runs on a person's machine: a stdio command, or an HTTP URL on the
    workstation's network. Its secrets stay there: it takes variable names, never values."""

    kind = Server.Kind.WORKSTATION
    command = forms.CharField(
        max_length=500,
        required=False,
        help_text="The stdio command the connector starts, for example: npx. Or leave it empty "
        "and give a URL.",
    )
    args = forms.CharField(
        required=False,
        label="Arguments",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Of a command: one argument per line.",
    )
    env_keys = forms.CharField(
        required=False,
        label="Environment variable names",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="Of a command: one name per line. The connector passes these from the "
        "workstation's environment; their values never reach the platform.",
    )
    url = forms.CharField(
        max_length=500,
        required=False,
        label="URL",
        help_text="Instead of a command: an HTTP MCP server on the workstation's network, "
        "for example http://127.0.0.1:8080/mcp.",
    )
    scope = forms.ChoiceField(
        choices=Server.Scope.choices,
        initial=Server.Scope.PERSONAL,
        required=False,
        help_text="Shared: one connector, of a member allowed to deploy workstation servers, "
        "serves every caller.",
    )

    def clean_args(self) -> list[str]:
        return _lines(self.cleaned_data["args"])

    def clean_env_keys(self) -> list[str]:
        return _lines(self.cleaned_data["env_keys"])

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "command": data["command"],
            "args": data["args"],
            "env_keys": data["env_keys"],
            "url": data["url"],
            "scope": data["scope"],
            "max_reply_bytes": data["max_reply_bytes"],
            "handshake_timeout_seconds": data["handshake_timeout_seconds"],
            "list_deadline_seconds": data["list_deadline_seconds"],
        }


FORMS = {
    Server.Kind.REMOTE: RemoteServerForm,
    Server.Kind.MANAGED: ManagedServerForm,
    Server.Kind.WORKSTATION: WorkstationServerForm,
}
