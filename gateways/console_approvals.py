"""Console pages of calls waiting for approval (docs/approvals.md): the list of those the
signed-in person may decide, and one call's page, where it is approved or refused.

Any member may open them; what each person sees is what they may decide (`gateways/approvals.py`:
their own calls when no team approves, their teams' otherwise), so another person's call is the
same 404 as a missing one.
"""

import json

from django.contrib import messages
from django.shortcuts import redirect

from core.errors import GatehouseError
from gateways import approvals
from teams.console_base import WorkspacePage


class ApprovalsPage(WorkspacePage):
    def get(self, request):
        pending = approvals.decidable_by(self.workspace, request.user)
        return self.render("gateways/approvals.html", {"approvals": list(pending[:100])})


class ApprovalPage(WorkspacePage):
    """GET shows the tool and its arguments; POST approves (`decision=approve`) or refuses."""

    def get(self, request, pk):
        approval = approvals.access_decidable(self.workspace, request.user, pk)
        return self._answer(approval)

    def post(self, request, pk):
        approval = approvals.access_decidable(self.workspace, request.user, pk)
        decision = request.POST.get("decision")
        if decision not in ("approve", "refuse"):
            return self._answer(approval, error="Choose approve or refuse.", status=400)
        try:
            approvals.decide(approval=approval, actor=request.user, approve=decision == "approve")
        except GatehouseError as exc:
            return self._answer(approval, error=str(exc), status=409)
        done = "approved" if decision == "approve" else "refused"
        messages.success(request, f"The call of {approval.tool} was {done}.")
        return redirect("approvals", ws=self.workspace.slug)

    def _answer(self, approval, *, error="", status=200):
        context = {
            "approval": approval,
            "arguments": json.dumps(approval.arguments, indent=2, ensure_ascii=False),
            "error": error,
        }
        return self.render("gateways/approval.html", context, status=status)
