"""Demo data for the embedded default: two sites, a user per role (three doctors, enough for the
two-reader path with arbitration), patients and sample photographs.

Safe to run repeatedly: existing rows are kept. Never run it against a production database.
"""

import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Site, User
from accounts.roles import Role
from patients.models import Patient
from patients.services import patient_create
from screening.models import Eye, Field
from screening.services.images import image_attach
from screening.services.visits import visit_create

SAMPLES_DIR = settings.BASE_DIR / "ml" / "samples"
DEMO_USERS = [
    ("nurse", "Nora", "Nurse", [Role.NURSE], ["north"]),
    ("doctor", "Daniel", "Doctor", [Role.DOCTOR], ["north", "south"]),
    # Two more doctors at North, so that a visit can take the whole two-reader path there: a
    # blind second reading by another doctor and, when the two disagree, arbitration by a third.
    ("doctor2", "Priya", "Second", [Role.DOCTOR], ["north"]),
    ("doctor3", "Tomas", "Third", [Role.DOCTOR], ["north"]),
    ("admin", "Ada", "Admin", [Role.ADMIN], []),
    ("api", "Camera", "Integration", [Role.API_CLIENT], ["north"]),
    ("nurse_south", "Sam", "South", [Role.NURSE], ["south"]),
]
DEMO_PATIENTS = [
    ("north", "N-1001", "Amina", "Okafor", datetime.date(1961, 3, 14), "female", "type2", 2009),
    ("north", "N-1002", "Jan", "Kowalski", datetime.date(1975, 11, 2), "male", "type1", 1990),
    ("north", "N-1003", "Li", "Wei", datetime.date(1958, 7, 21), "male", "type2", 2001),
    ("south", "S-2001", "Maria", "Garcia", datetime.date(1969, 5, 30), "female", "type2", 2012),
]

# Sample photographs (natural colour, EyePACS; see ml/samples/ATTRIBUTION.txt) for two visits.
DEMO_VISITS = [
    ("N-1001", "natural_177_left_grade0.jpg", "natural_184_left_grade2.jpg"),
    ("N-1002", "natural_217_left_grade4.jpg", "natural_352_left_grade3.jpg"),
]


class Command(BaseCommand):
    help = (
        "Create demo sites, users (one per role; three doctors), patients and visits with sample "
        "images."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="drportal-demo", help="Password for demo users.")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

    def handle(self, *args: object, password: str, **options: object) -> None:
        if not settings.DEBUG and not options.get("force"):
            raise CommandError("seed_demo only runs with DEBUG on (the embedded default).")
        with transaction.atomic():
            sites = self._sites()
            users = self._users(sites, password)
            self._patients_and_visit(sites, users["nurse"], users["nurse_south"])
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in with any of:"))
        for username, *_rest, roles, site_codes in DEMO_USERS:
            where = ", ".join(site_codes) or "all sites"
            self.stdout.write(f"  {username:12} / {password}   ({roles[0].value}; {where})")

    def _sites(self) -> dict[str, Site]:
        return {
            code: Site.objects.get_or_create(code=code, defaults={"name": name})[0]
            for code, name in [("north", "North Clinic"), ("south", "South Clinic")]
        }

    def _users(self, sites: dict[str, Site], password: str) -> dict[str, User]:
        users = {}
        for username, first, last, roles, site_codes in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_password(password)
                user.is_staff = Role.ADMIN in roles
                user.save()
                user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
                user.sites.set([sites[c] for c in site_codes])
            users[username] = user
        return users

    def _patients_and_visit(self, sites: dict[str, Site], nurse: User, nurse_south: User) -> None:
        for code, mrn, given, family, dob, sex, dm_type, year in DEMO_PATIENTS:
            if Patient.objects.filter(site=sites[code], mrn=mrn).exists():
                continue
            actor = nurse if code == "north" else nurse_south
            patient_create(
                actor=actor,
                site=sites[code],
                mrn=mrn,
                given_name=given,
                family_name=family,
                date_of_birth=dob,
                sex=sex,
                diabetes_type=dm_type,
                diagnosis_year=year,
            )
        for mrn, right, left in DEMO_VISITS:
            self._visit(Patient.objects.get(site=sites["north"], mrn=mrn), nurse, right, left)

    def _visit(self, patient: Patient, nurse: User, right: str, left: str) -> None:
        photos = [(SAMPLES_DIR / right, Eye.RIGHT), (SAMPLES_DIR / left, Eye.LEFT)]
        if patient.visits.exists() or not all(path.exists() for path, _ in photos):
            return
        visit = visit_create(actor=nurse, patient=patient, dilated=True, camera="Demo camera")
        for path, eye in photos:
            # Sample eyes stand in for both sides of one demo patient; name the upload accordingly.
            upload = SimpleUploadedFile(f"demo-{patient.mrn}-{eye}.jpg", path.read_bytes())
            image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field=Field.MACULA)
