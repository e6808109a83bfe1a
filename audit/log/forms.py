"""Console form of the log viewer.

The filter form only renders the filters and carries their errors: the filters themselves are
read by `audit.log.selectors.parse_filter`, as the API and exports read them, so the three can
never disagree.
"""

from django import forms

from audit.models import Hop, Outcome

_ANY = [("", "Any")]


class LogFilterForm(forms.Form):
    since = forms.CharField(
        required=False,
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="UTC",
    )
    until = forms.CharField(
        required=False,
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="UTC",
    )
    gateway = forms.CharField(required=False, widget=forms.Select)
    person = forms.CharField(required=False, widget=forms.Select)
    server = forms.CharField(required=False, widget=forms.Select)
    tool = forms.CharField(required=False, help_text="Namespaced or upstream name")
    # Plain text fields shown as selects: the API's comma-separated lists still pass through.
    hop = forms.CharField(required=False, widget=forms.Select(choices=_ANY + list(Hop.choices)))
    outcome = forms.CharField(
        required=False, widget=forms.Select(choices=_ANY + list(Outcome.choices))
    )
    q = forms.CharField(
        required=False, label="Text", help_text="Inside the method, tool names or error"
    )

    def __init__(self, data=None, *, gateways=(), people=(), servers=()):
        """`gateways`, `people` and `servers`: the workspace's, as the choices of those filters.
        A value given that is not among them (a deleted gateway, a former member, an id) is
        kept as a choice, so the form shows the filter that applies."""
        super().__init__(data)
        for name, values in (("gateway", gateways), ("person", people), ("server", servers)):
            choices = [(value, value) for value in values]
            given = (data or {}).get(name, "")
            if given and given not in values:
                choices.append((given, given))
            self.fields[name].widget.choices = _ANY + choices
