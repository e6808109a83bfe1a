"""Small pages of the site itself: the API's index and the favicon browsers ask for."""

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import reverse


def api_index(request):
    """`/api/`: where the management API and its documentation are."""
    return JsonResponse(
        {
            "versions": {"v1": request.build_absolute_uri("/api/v1/")},
            "schema": request.build_absolute_uri(reverse("api-schema")),
            "docs": request.build_absolute_uri(reverse("api-docs")),
            "redoc": request.build_absolute_uri(reverse("api-redoc")),
        }
    )


def favicon(request):
    # Resolved per request: the static manifest may not exist when URL confs are imported.
    return HttpResponsePermanentRedirect(static("console/favicon.svg"))
