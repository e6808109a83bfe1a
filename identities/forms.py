"""Console forms of the identities app: issuing an API token."""

from datetime import timedelta

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What it is for, e.g. 'laptop' or 'CI'.")
    gateway = forms.ChoiceField(required=False, help_text="Limit the token to one gateway.")
    expires_in = forms.ChoiceField(required=False, choices=EXPIRY_CHOICES, label="Expires")
    user = forms.EmailField(
        required=False,
        label="For member",
        help_text="Leave empty for yourself.",
    )

    def __init__(self, *args, gateways, for_others: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gateway"].choices = [("", "Every gateway I can use")] + [
            (g.slug, g.name) for g in gateways
        ]
        if not for_others:
            del self.fields["user"]

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None
