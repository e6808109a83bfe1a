"""Console pages of the SIEM sinks: the list with each sink's cursor, lag and last error; adding
one of each kind; changing, switching on or off, testing and deleting one.

Every page needs `integrations.manage`, as the API does, and a sink that sends payloads can
only be set up or changed by someone who may see them (`logs.view_payloads`). Writes go through
`audit.sinks.services`, which validates them and records them in the admin audit log. A sink of
another workspace is the same 404 as a missing one.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from audit.models import LogSink
from audit.sinks import delivery, services
from audit.sinks.forms import FORMS
from audit.sinks.selectors import sinks_of
from core.errors import GatehouseError
from teams.capabilities import INTEGRATIONS_MANAGE, LOGS_VIEW_PAYLOADS
from teams.console_base import WorkspacePage, paginate, show_error

SINKS_PER_PAGE = 25


def lag(sink) -> int:
    return max((getattr(sink, "head_seq", None) or 0) - sink.cursor_seq, 0)


class SinkBase(WorkspacePage):
    required = {"GET": INTEGRATIONS_MANAGE, "POST": INTEGRATIONS_MANAGE}

    def sink(self, pk) -> LogSink:
        return self.access(sinks_of(self.workspace), pk=pk)

    def check_payloads(self, sink: LogSink | None, data: dict) -> None:
        """Whoever decides where payloads go must be allowed to see them (as in the API)."""
        sends = data.get("include_payloads", sink is not None and sink.include_payloads)
        if sends:
            self.require(LOGS_VIEW_PAYLOADS)

    def form(self, kind: str, data=None, *, new: bool, initial=None):
        return FORMS[kind](
            data, new=new, with_payloads=self.can(LOGS_VIEW_PAYLOADS), initial=initial
        )

    def list_url(self) -> str:
        return reverse("sinks", kwargs={"ws": self.workspace.slug})


class SinksPage(SinkBase):
    def get(self, request):
        page = paginate(request, sinks_of(self.workspace), per_page=SINKS_PER_PAGE)
        for sink in page:
            sink.lag = lag(sink)
        return self.render("audit/sinks.html", {"page": page, "kinds": LogSink.Kind.choices})


class SinkNewPage(SinkBase):
    """Add a sink of one kind (`?kind=webhook`, `otlp_http` or `syslog`)."""

    def _kind(self, request) -> str:
        kind = request.POST.get("kind") or request.GET.get("kind")
        return kind if kind in FORMS else LogSink.Kind.WEBHOOK

    def _render(self, kind, form, status=200):
        return self.render(
            "audit/sink_form.html",
            {"form": form, "kind": kind, "kinds": LogSink.Kind.choices, "sink": None},
            status=status,
        )

    def get(self, request):
        kind = self._kind(request)
        return self._render(kind, self.form(kind, new=True))

    def post(self, request):
        kind = self._kind(request)
        form = self.form(kind, request.POST, new=True)
        if form.is_valid():
            fields = form.service_fields()
            self.check_payloads(None, fields)
            try:
                sink, generated = services.create_sink(
                    workspace=self.workspace, actor=request.user, kind=kind, **fields
                )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                if generated:
                    # Shown on this answer only: a redirect would have to carry the key.
                    sink = self.sink(sink.pk)
                    form = self.form(kind, new=False, initial=form.initial_from(sink))
                    return self.render(
                        "audit/sink_form.html",
                        {"form": form, "kind": kind, "sink": sink, "new_key": generated},
                        status=201,
                    )
                messages.success(request, f"Sink {sink.name} was added.")
                return redirect(self.list_url())
        return self._render(kind, form, status=400)


class SinkPage(SinkBase):
    """Change a sink; its kind stays what it was."""

    def _render(self, sink, form, status=200):
        return self.render(
            "audit/sink_form.html",
            {"form": form, "kind": sink.kind, "sink": sink, "lag": lag(sink)},
            status=status,
        )

    def get(self, request, pk):
        sink = self.sink(pk)
        form = self.form(sink.kind, new=False, initial=FORMS[sink.kind].initial_from(sink))
        return self._render(sink, form)

    def post(self, request, pk):
        sink = self.sink(pk)
        form = self.form(sink.kind, request.POST, new=False)
        if form.is_valid():
            fields = form.service_fields()
            self.check_payloads(sink, fields)
            try:
                services.update_sink(sink=sink, actor=request.user, **fields)
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, f"Sink {sink.name} was saved.")
                return redirect(self.list_url())
        return self._render(self.sink(pk), form, status=400)


class SinkTogglePage(SinkBase):
    def post(self, request, pk):
        sink = self.sink(pk)
        self.check_payloads(sink, {})
        services.update_sink(sink=sink, actor=request.user, enabled=not sink.enabled)
        state = "delivers again" if sink.enabled else "is paused"
        messages.success(request, f"Sink {sink.name} {state}.")
        return redirect(self.list_url())


class SinkTestPage(SinkBase):
    def post(self, request, pk):
        sink = self.sink(pk)
        error = delivery.send_test(sink)
        if error:
            messages.error(request, f"Sink {sink.name} did not accept the test entry: {error}")
        else:
            messages.success(request, f"Sink {sink.name} accepted the test entry.")
        return redirect(self.list_url())


class SinkDeletePage(SinkBase):
    def get(self, request, pk):
        sink = self.sink(pk)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the sink {sink.name}?",
                "body": f"Log entries stop going to {sink.endpoint}. Entries it has not "
                f"accepted yet ({lag(sink)}) are not sent.",
                "action": "Delete sink",
                "cancel_url": self.list_url(),
            },
        )

    def post(self, request, pk):
        sink = self.sink(pk)
        services.delete_sink(sink=sink, actor=request.user)
        messages.success(request, f"Sink {sink.name} was deleted.")
        return redirect(self.list_url())
