"""Forms of the doctors' review pages (they parse input; the services decide)."""

from typing import Any, cast

from django import forms
from django.db import models
from django.db.models import QuerySet

from accounts.models import Site
from screening.models import Dme, EyeReading, OutcomeRule
from screening.models.review import GRADE_CHOICES
from screening.rules import Grade


def _question(field: str) -> str:
    """The model field's verbose name (the clinician's question) with a capital first letter."""
    name = str(cast(models.Field, EyeReading._meta.get_field(field)).verbose_name)
    return name[:1].upper() + name[1:]


class EyeReadingForm(forms.Form):
    """One eye's grading (prefixed with the eye). 'Agree with the AI' submits the AI's grade.
    The grade arrives as its code and leaves as a `Grade` (None when not chosen)."""

    gradable = forms.TypedChoiceField(
        label=_question("gradable"),
        choices=[("yes", "Gradable"), ("no", "Ungradable")],
        coerce=lambda value: value == "yes",
        initial="yes",
        widget=forms.RadioSelect,
    )
    grade = forms.TypedChoiceField(
        label=_question("grade"),
        choices=GRADE_CHOICES,
        coerce=Grade,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    dme = forms.ChoiceField(  # no default: the doctor states DME for every eye
        label=_question("dme"),
        choices=Dme.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    ungradable_reason = forms.CharField(
        label=_question("ungradable_reason"),
        max_length=200,
        required=False,
    )
    comment = forms.CharField(
        label="Comment on this eye", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, form_id: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Both eyes' fields belong to one <form> (the HTML `form` attribute), so that saving one
        # eye sends what was entered for the other too and nothing typed is lost.
        if form_id:
            for field in self.fields.values():
                field.widget.attrs["form"] = form_id


class ReviewSubmitForm(forms.Form):
    outcome = forms.ModelChoiceField(
        label="What outcome do you recommend?",
        queryset=OutcomeRule.objects.all(),
        required=False,
        empty_label="The recommended outcome",
        help_text="Leave as recommended unless you have a reason to change it.",
    )
    outcome_reason = forms.CharField(
        label="Why does the outcome differ from the recommendation?",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    comment = forms.CharField(
        label="Comment on the visit", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class SignOffForm(forms.Form):
    password = forms.CharField(
        label="Your password, to sign the report",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AddendumForm(forms.Form):
    reason = forms.CharField(label="Why is this addendum needed?", max_length=200)
    text = forms.CharField(
        label="What does the addendum say?", widget=forms.Textarea(attrs={"rows": 4})
    )


WORKLIST_TABS = [
    ("to_read", "To read"),
    ("mine", "My drafts"),
    ("second", "Awaiting second reader"),
    ("signed", "Signed by me"),
    ("all", "All waiting"),  # every unsigned visit, whoever holds it: nothing is out of sight
]


class WorklistFilterForm(forms.Form):
    tab = forms.ChoiceField(choices=WORKLIST_TABS, required=False, widget=forms.HiddenInput)
    q = forms.CharField(
        label="Patient name or MRN",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or MRN"}),
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("urgency", "Urgency, then waiting longest"),
            ("oldest", "Waiting longest"),
            ("newest", "Newest first"),
        ],
    )
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All")
    referable_first = forms.BooleanField(label="AI-referable first", required=False)
    ungradable = forms.BooleanField(label="Ungradable eye only", required=False)
    date_from = forms.DateField(
        label="Visit from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="Visit to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, sites: QuerySet[Site] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if sites is not None:
            cast(forms.ModelChoiceField, self.fields["site"]).queryset = sites
