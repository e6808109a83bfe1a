from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        from audit.alerts import raising
        from servers import health

        # A server turning down raises an alert, and coming back clears it (see servers/health.py
        # for why it is wired here).
        health.when_server_goes_down(raising.server_went_down)
        health.when_server_comes_back(raising.server_came_back)
