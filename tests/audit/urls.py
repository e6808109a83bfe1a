"""The project's URLs plus the log endpoints, for tests that run before config/api_urls.py
registers them (the registration there is one line; see audit/log/api.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from audit.log.api import LogEntryViewSet

router = SimpleRouter()
router.register(r"workspaces/(?P<workspace>[^/.]+)/logs", LogEntryViewSet, basename="log")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("", include("config.urls")),
]
