"""Console pages of the tenancy app: workspaces, profile, members, teams and roles.

Reading people, teams and roles needs only membership (as in the API); every write needs
`people.manage`, and the services refuse a grant beyond what the acting member holds
(`teams.grants.check_grantable`), answered here with the same 403 page as a missing capability.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse

from core.errors import CapabilityRequired, GatehouseError
from identities import offboarding
from teams import selectors, services
from teams.capabilities import PEOPLE_MANAGE
from teams.console_base import WorkspacePage, header_context, paginate, show_error
from teams.forms import DuplicateRoleForm, InviteForm, MemberForm, ProfileForm, RoleForm, TeamForm
from teams.models import Role, Team


@login_required
def home(request):
    context = header_context(request)
    return render(request, "teams/home.html", context)


@login_required
def profile(request):
    # The person's own name is not workspace configuration, so no service or audit row.
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile was saved.")
        return redirect("profile")
    context = header_context(request)
    context["form"] = form
    return render(request, "teams/profile.html", context)


def _teams_of(workspace):
    return Team.objects.for_workspace(workspace).order_by("name")


def _roles_of(workspace):
    return Role.objects.for_workspace(workspace).order_by("name")


class MembersPage(WorkspacePage):
    required = {"POST": PEOPLE_MANAGE}

    def _form(self, data=None):
        return InviteForm(
            data, roles=_roles_of(self.workspace), teams=_teams_of(self.workspace), prefix="invite"
        )

    def get(self, request, form=None):
        page = paginate(request, selectors.memberships_in(self.workspace))
        return self.render(
            "teams/members.html",
            {"page": page, "form": form or self._form()},
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form = self._form(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        data = form.cleaned_data
        try:
            membership = services.invite_member(
                workspace=self.workspace,
                email=data["email"],
                role_key=data["role"],
                team_slugs=data["teams"],
                actor=request.user,
                acting_member=self.membership,
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        messages.success(request, f"{data['email']} was added as {membership.role.name}.")
        return redirect("members", ws=self.workspace.slug)


class MemberPage(WorkspacePage):
    """One member: change their role and teams."""

    required = {"POST": PEOPLE_MANAGE}

    def _form(self, member, data=None):
        initial = {"role": member.role.key, "teams": [t.slug for t in member.teams.all()]}
        return MemberForm(
            data, initial=initial, roles=_roles_of(self.workspace), teams=_teams_of(self.workspace)
        )

    def get(self, request, member_id, form=None):
        member = selectors.access_membership(self.workspace, member_id)
        return self.render(
            "teams/member.html",
            {"member": member, "form": form or self._form(member)},
            status=400 if form is not None else 200,
        )

    def post(self, request, member_id):
        member = selectors.access_membership(self.workspace, member_id)
        form = self._form(member, request.POST)
        if not form.is_valid():
            return self.get(request, member_id, form)
        data = form.cleaned_data
        role_key = data["role"] if data["role"] != member.role.key else None
        try:
            services.update_member(
                membership=member,
                role_key=role_key,
                team_slugs=data["teams"],
                actor=request.user,
                acting_member=self.membership,
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, member_id, form)
        messages.success(request, f"{member.user.email} was updated.")
        return redirect("members", ws=self.workspace.slug)


class MemberRemovePage(WorkspacePage):
    required = {"GET": PEOPLE_MANAGE, "POST": PEOPLE_MANAGE}

    def get(self, request, member_id, error=None):
        member = selectors.access_membership(self.workspace, member_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Remove {member.user.email}?",
                "body": "They lose access to this workspace and its gateways at once.",
                "action": "Remove member",
                "cancel_url": reverse("members", kwargs={"ws": self.workspace.slug}),
                "error": error,
            },
            status=400 if error else 200,
        )

    def post(self, request, member_id):
        member = selectors.access_membership(self.workspace, member_id)
        try:
            offboarding.remove_member_and_revoke(
                membership=member, actor=request.user, acting_member=self.membership
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            return self.get(request, member_id, error=exc.message)
        messages.success(request, f"{member.user.email} was removed.")
        return redirect("members", ws=self.workspace.slug)


class TeamsPage(WorkspacePage):
    required = {"POST": PEOPLE_MANAGE}

    def get(self, request, form=None):
        page = paginate(request, _teams_of(self.workspace).order_by("slug"))
        return self.render(
            "teams/teams.html",
            {"page": page, "form": form or TeamForm()},
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form = TeamForm(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        try:
            team = services.create_team(
                workspace=self.workspace,
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                actor=request.user,
            )
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        messages.success(request, f"Team {team.name} was created.")
        return redirect("teams", ws=self.workspace.slug)


class TeamDeletePage(WorkspacePage):
    required = {"GET": PEOPLE_MANAGE, "POST": PEOPLE_MANAGE}

    def get(self, request, slug):
        team = selectors.access_team(self.workspace, slug)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the team {team.name}?",
                "body": "Its members stay in the workspace but lose the gateways provisioned "
                "to this team.",
                "action": "Delete team",
                "cancel_url": reverse("teams", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, slug):
        team = selectors.access_team(self.workspace, slug)
        services.delete_team(team=team, actor=request.user)
        messages.success(request, f"Team {team.name} was deleted.")
        return redirect("teams", ws=self.workspace.slug)


class RolesPage(WorkspacePage):
    def get(self, request):
        page = paginate(request, _roles_of(self.workspace))
        return self.render("teams/roles.html", {"page": page})


class RoleNewPage(WorkspacePage):
    required = {"GET": PEOPLE_MANAGE, "POST": PEOPLE_MANAGE}

    def get(self, request, form=None):
        return self.render(
            "teams/role_form.html",
            {"form": form or RoleForm(), "role": None},
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        data = form.cleaned_data
        try:
            role = services.create_role(
                workspace=self.workspace,
                key=data["key"],
                name=data["name"],
                capabilities=data["capabilities"],
                actor=request.user,
                acting_member=self.membership,
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        messages.success(request, f"Role {role.name} was created.")
        return redirect("roles", ws=self.workspace.slug)


class RolePage(WorkspacePage):
    """A role's capabilities; editable when unlocked and the caller holds `people.manage`."""

    required = {"POST": PEOPLE_MANAGE}

    def get(self, request, key, form=None):
        role = selectors.access_role(self.workspace, key)
        form = form or RoleForm(
            initial={"name": role.name, "capabilities": role.capabilities}, editing=True
        )
        return self.render(
            "teams/role_form.html",
            {"form": form, "role": role},
            status=400 if form.is_bound else 200,
        )

    def post(self, request, key):
        role = selectors.access_role(self.workspace, key)
        form = RoleForm(request.POST, editing=True)
        if not form.is_valid():
            return self.get(request, key, form)
        data = form.cleaned_data
        try:
            services.update_role(
                role=role,
                name=data["name"],
                capabilities=data["capabilities"],
                actor=request.user,
                acting_member=self.membership,
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, key, form)
        messages.success(request, f"Role {role.name} was saved.")
        return redirect("roles", ws=self.workspace.slug)


class RoleDuplicatePage(WorkspacePage):
    required = {"GET": PEOPLE_MANAGE, "POST": PEOPLE_MANAGE}

    def get(self, request, key, form=None):
        role = selectors.access_role(self.workspace, key)
        form = form or DuplicateRoleForm(
            initial={"key": f"{role.key}-copy"[:50], "name": f"{role.name} (copy)"}
        )
        return self.render(
            "teams/role_duplicate.html",
            {"form": form, "role": role},
            status=400 if form.is_bound else 200,
        )

    def post(self, request, key):
        role = selectors.access_role(self.workspace, key)
        form = DuplicateRoleForm(request.POST)
        if not form.is_valid():
            return self.get(request, key, form)
        try:
            copy = services.duplicate_role(
                role=role,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                actor=request.user,
                acting_member=self.membership,
            )
        except CapabilityRequired:
            raise
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, key, form)
        messages.success(request, f"Role {copy.name} was created from {role.name}.")
        return redirect("role", ws=self.workspace.slug, key=copy.key)
