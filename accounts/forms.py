import datetime
from typing import Any, cast

from django import forms
from django.utils import timezone

from accounts.models import ApiToken, Site, User
from accounts.roles import ROLE_LABELS, Role
from accounts.selectors import assignable_sites
from accounts.services import SITE_FIELDS, USER_PROFILE_FIELDS

ROLE_CHOICES = [(role.value, ROLE_LABELS[role]) for role in Role]


class UserAccessFields(forms.Form):
    """Roles and sites, shared by the create and edit forms."""

    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Administrators see every site; the API client role is for integrating systems.",
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Clinics whose records this user may see.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        roles = set(data.get("roles") or [])
        if roles - {Role.ADMIN} and not data.get("sites"):
            self.add_error("sites", "Nurses, doctors and API clients need at least one site.")
        return data

    def access(self) -> dict[str, Any]:
        return {
            "roles": [Role(r) for r in self.cleaned_data["roles"]],
            "sites": list(self.cleaned_data["sites"]),
        }


class UserCreateForm(UserAccessFields, forms.ModelForm):
    send_invite = forms.BooleanField(
        required=False,
        initial=True,
        label="Email an invitation to choose a password",
        help_text="The one-time link is valid for a limited time. Needs an email address.",
    )

    class Meta:
        model = User
        fields = ["username", *USER_PROFILE_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["sites"]).queryset = assignable_sites()
        self.fields["email"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("send_invite") and not data.get("email"):
            self.add_error(
                "email",
                "An invitation needs an email address: enter one, or untick “Email an "
                "invitation” and send a link later from the user's page.",
            )
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "username": data["username"],
            "send_invite": data["send_invite"],
            **{name: data[name] for name in USER_PROFILE_FIELDS},
            **self.access(),
        }


class UserEditForm(UserAccessFields, forms.ModelForm):
    class Meta:
        model = User
        fields = list(USER_PROFILE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.instance
        cast(forms.ModelMultipleChoiceField, self.fields["sites"]).queryset = assignable_sites(user)
        if not self.is_bound:
            held = {group.name for group in user.groups.all()}
            self.initial["roles"] = [role.value for role in Role if role.value in held]
            self.initial["sites"] = list(user.sites.all())

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {**{name: data[name] for name in USER_PROFILE_FIELDS}, **self.access()}


class UserSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    role = forms.ChoiceField(choices=[("", "Any role"), *ROLE_CHOICES], required=False)
    site = forms.ModelChoiceField(
        queryset=Site.objects.all(), required=False, empty_label="Any site"
    )
    status = forms.ChoiceField(
        choices=[("active", "Active"), ("inactive", "Deactivated"), ("", "All")],
        required=False,
        initial="active",
    )

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `user_search`: active users until the form says otherwise."""
        if not self.is_bound or not self.is_valid():
            return {"active": True}
        data = self.cleaned_data
        status = data["status"] if "status" in self.data else "active"
        return {
            "query": data["q"],
            "role": data["role"],
            "site": data["site"],
            "active": {"active": True, "inactive": False}.get(status),
        }


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = list(SITE_FIELDS)
        widgets = {"address": forms.Textarea(attrs={"rows": 2})}

    def service_fields(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in SITE_FIELDS}


class ApiTokenForm(forms.Form):
    """A new API token for an API client user: what it is for, where and what it may do, expiry."""

    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. 'Camera PC, room 2' or 'Hospital EHR'."
    )
    actions = forms.MultipleChoiceField(
        choices=ApiToken.Action.choices,
        initial=[ApiToken.Action.READ],  # least privilege: tick only what the system needs
        widget=forms.CheckboxSelectMultiple,
        label="May",
        help_text="Tick only what the system using the token needs (a camera PC: read and upload).",
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only at these sites",
        help_text="Leave all unticked for every site of the user.",
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        label="Valid until (end of day)",
        help_text="Leave empty for a token that does not expire; revoke it when no longer needed.",
    )

    def __init__(self, *args: Any, subject: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sites = cast(forms.ModelMultipleChoiceField, self.fields["sites"])
        sites.queryset = subject.sites.order_by("name")

    def clean_expires_on(self) -> datetime.date | None:
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("The date is in the past.")
        return day

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        expires_at = None
        if data["expires_on"]:
            next_day = data["expires_on"] + datetime.timedelta(days=1)
            expires_at = timezone.make_aware(datetime.datetime.combine(next_day, datetime.time()))
        return {
            "name": data["name"],
            "actions": data["actions"],
            "sites": list(data["sites"]),
            "expires_at": expires_at,
        }
