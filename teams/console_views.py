"""Console pages of the tenancy app."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from teams.selectors import workspaces_of


@login_required
def home(request):
    return render(request, "teams/home.html", {"workspaces": workspaces_of(request.user)})
