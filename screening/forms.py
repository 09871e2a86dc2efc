from typing import Any

from django import forms

from screening.models import Eye, Field, Visit
from screening.services.image_batch import MAX_BATCH_FILES
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


class BatchItemForm(forms.Form):
    """One photograph of a batch upload, tagged by the nurse (see static/js/batch-upload.js)."""

    file = forms.FileField()
    eye = forms.ChoiceField(choices=Eye.choices)
    field = forms.ChoiceField(choices=Field.choices)
    eye_confirmed = forms.BooleanField(
        required=False,
        help_text="Keep the declared eye although the photograph looks like the other eye.",
    )


class BaseBatchUploadFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_many_forms": "Upload at most %(num)d photographs at a time.",
        "too_few_forms": "Choose at least one photograph.",
    }


BatchUploadFormSet = forms.formset_factory(
    BatchItemForm,
    formset=BaseBatchUploadFormSet,
    extra=0,
    min_num=1,
    validate_min=True,
    max_num=MAX_BATCH_FILES,
    validate_max=True,
    absolute_max=MAX_BATCH_FILES,
)
