from typing import Any

from django import forms

from screening.models import Eye, Field, Visit
from screening.services.visits import EDITABLE_FIELDS


class VisitForm(forms.ModelForm):
    class Meta:
        model = Visit
        fields = list(EDITABLE_FIELDS)
        widgets = {
            "visit_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "visual_acuity_left": forms.TextInput(attrs={"placeholder": "e.g. 6/9"}),
            "visual_acuity_right": forms.TextInput(attrs={"placeholder": "e.g. 6/9"}),
        }


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field taking several files; each is validated later, one by one, by the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/tiff"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list[object]:
        files = data if isinstance(data, list | tuple) else [data]
        files = [f for f in files if f]
        if not files:
            raise forms.ValidationError("Choose at least one photograph.", "required")
        return files


class ImageUploadForm(forms.Form):
    eye = forms.ChoiceField(choices=Eye.choices, widget=forms.RadioSelect)
    field = forms.ChoiceField(choices=Field.choices, initial=Field.MACULA, widget=forms.RadioSelect)
    # The metaclass moves declared fields off the class, so this never shadows BaseForm.files at
    # run time; the stubs cannot know that.
    files = MultipleFileField(label="Photographs (JPEG, PNG or TIFF)")  # type: ignore[assignment]
