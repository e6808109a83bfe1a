from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        from audit.alerts import raising
        from servers import health

        # A server turning down raises an alert (see servers/health.py for why it is wired here).
        health.when_server_goes_down(raising.server_went_down)
