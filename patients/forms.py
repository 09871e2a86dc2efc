from django import forms

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

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["site"]  # a patient never moves between sites
        else:
            sites = sites_for(user).filter(is_active=True)
            self.fields["site"].queryset = sites
            if sites.count() == 1:
                self.fields["site"].initial = sites.first()
        self.fields["diagnosis_year"].widget.attrs.update({"min": 1900, "placeholder": "e.g. 2015"})

    @property
    def chosen_site(self) -> Site | None:
        return self.cleaned_data.get("site")

    def service_fields(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS}


class PatientSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search by MRN or name")
