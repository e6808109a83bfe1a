"""The web console."""

from django.urls import path

from teams import console_views

urlpatterns = [
    path("", console_views.home, name="home"),
]
