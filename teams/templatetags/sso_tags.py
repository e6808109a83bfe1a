"""Template tags of the sign-in page: the workspaces that show an SSO button."""

from django import template

from teams.sso.services import enabled_ssos

register = template.Library()


@register.simple_tag
def sso_buttons():
    """Workspaces whose admins chose to name them on the public sign-in page."""
    return [sso.workspace for sso in enabled_ssos().filter(show_button=True)]
