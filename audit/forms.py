from typing import Any, cast

from django import forms

from accounts.models import User
from audit.selectors import audit_actions, audit_object_types
from audit.templatetags.audit_tags import action_label, record_type


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    actor = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        label="Who",
        empty_label="Anyone",
    )
    action = forms.ChoiceField(required=False)
    object_type = forms.ChoiceField(required=False, label="Record type")
    object_id = forms.CharField(required=False, max_length=64, label="Record id")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "Any action")] + [
            (a, action_label(a)) for a in audit_actions()
        ]
        cast(forms.ChoiceField, self.fields["object_type"]).choices = [("", "Any record")] + [
            (t, record_type(t)) for t in audit_object_types()
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `audit_event_search` (none when the form is invalid)."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "query": data["q"],
            "actor": data["actor"],
            "action": data["action"],
            "object_type": data["object_type"],
            "object_id": data["object_id"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
