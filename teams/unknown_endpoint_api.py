"""Any path under /api/v1/ that no route matches: a 404 in the API's one error shape (JSON),
not the console's HTML page, whatever the method and whoever asks.

A path missing only its trailing slash is what Django's APPEND_SLASH would have redirected,
had this route not matched it: GET and HEAD are still redirected there, and any other method
is told the path it meant (a redirect would turn a POST into a GET)."""

from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView


def _with_slash(path: str) -> str | None:
    """`path` + "/" when that is a real route of the API, else None."""
    if path.endswith("/"):
        return None
    try:
        match = resolve(path + "/")
    except Resolver404:
        return None
    return None if getattr(match.func, "view_class", None) is UnknownEndpoint else path + "/"


class UnknownEndpoint(APIView):
    authentication_classes = ()
    permission_classes = ()
    schema = None  # not an operation of the API

    def initial(self, request, *args, **kwargs):
        meant = _with_slash(request.path_info)
        if meant is None:
            raise NotFound("No such endpoint.")
        if request.method not in ("GET", "HEAD"):
            raise NotFound(f"No such endpoint; did you mean {meant}?")

    def get(self, request, *args, **kwargs):
        query = request.META.get("QUERY_STRING", "")
        meant = _with_slash(request.path_info)
        return HttpResponsePermanentRedirect(meant + (f"?{query}" if query else ""))
