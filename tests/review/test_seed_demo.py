"""The demo data has enough doctors at one site to complete the two-reader path (issue 13 §3)."""

import pytest
from django.core.management import call_command

from accounts.models import User
from accounts.roles import Role, has_role

pytestmark = pytest.mark.django_db


def test_demo_data_has_three_doctors_at_north(capsys):
    call_command("seed_demo", force=True)
    doctors = [
        u.username
        for u in User.objects.filter(sites__code="north").order_by("username")
        if has_role(u, Role.DOCTOR)
    ]
    assert doctors == ["doctor", "doctor2", "doctor3"]  # primary, second reader, arbiter
    assert "doctor2" in capsys.readouterr().out
    call_command("seed_demo", force=True)  # safe to run again
    assert User.objects.filter(username__startswith="doctor").count() == 3
