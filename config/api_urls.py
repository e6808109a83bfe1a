"""The management REST API, /api/v1/. Every resource lives under a workspace."""

urlpatterns: list = []
