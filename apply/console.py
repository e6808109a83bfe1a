"""The console's configuration download, `/w/<ws>/export/`: the workspace as the YAML
`manage.py apply` reads, secrets as environment variable references. `workspace.manage`."""

from django.http import HttpResponse

from apply.errors import NotExportable
from apply.export import export_workspace
from teams.capabilities import WORKSPACE_MANAGE
from teams.console_base import WorkspacePage


class ConfigExportPage(WorkspacePage):
    required = {"GET": WORKSPACE_MANAGE}

    def get(self, request):
        try:
            export = export_workspace(workspace=self.workspace, actor=request.user, via="console")
        except NotExportable as exc:
            return self.render("apply/export_refused.html", {"reason": exc.message}, status=409)
        response = HttpResponse(export.text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.workspace.slug}.yaml"'
        return response
