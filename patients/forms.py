from typing import Any, cast

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.models import Site, User
from accounts.roles import sites_for
from patients.models import Patient
from patients.services import EDITABLE_FIELDS


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["site", *EDITABLE_FIELDS]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "address": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["site"]  # a patient never moves between sites
        else:
            sites = sites_for(user).filter(is_active=True)
            cast(forms.ModelChoiceField, self.fields["site"]).queryset = sites
            if sites.count() == 1:
                self.fields["site"].initial = sites.first()
        self.fields["diagnosis_year"].widget.attrs.update({"min": 1900, "placeholder": "e.g. 2015"})

    @property
    def chosen_site(self) -> Site:
        return self.cleaned_data["site"]  # the create form requires a site

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS}

    def add_error(self, field: str | None, error: Any) -> None:  # any shape Django accepts
        """A duplicate record number (a model constraint, so reported without a field) is shown
        on the MRN field, whether the form's validation or the service found it."""
        if field is None and isinstance(error, ValidationError) and "mrn" in self.fields:
            errors = error.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            duplicate = [e for e in general if getattr(e, "code", None) == "duplicate_mrn"]
            if duplicate:
                errors.setdefault("mrn", []).extend(duplicate)
            if rest := [e for e in general if e not in duplicate]:
                errors[NON_FIELD_ERRORS] = rest
            error = ValidationError(errors)
        super().add_error(field, error)


class PatientSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search by MRN or name")
