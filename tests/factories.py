"""factory_boy factories for the domain; role fixtures in conftest.py build on them."""

import datetime
import io

import factory
from django.contrib.auth.models import Group
from PIL import Image, ImageDraw

from accounts.models import Site, User
from patients.models import Patient
from screening.models import Visit


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"site{n}")
    name = factory.LazyAttribute(lambda o: f"{o.code.title()} Clinic")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.LazyAttribute(lambda o: o.username.title())
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))
            self.is_staff = "admin" in extracted
            self.save(update_fields=["is_staff"])

    @factory.post_generation
    def sites(self, create: bool, extracted: list[Site] | None, **kwargs: object) -> None:
        if create and extracted:
            self.sites.set(extracted)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1965, 4, 1)
    sex = Patient.Sex.FEMALE
    diabetes_type = Patient.DiabetesType.TYPE_2
    diagnosis_year = 2005
    created_by = factory.SubFactory(UserFactory)


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    site = factory.SelfAttribute("patient.site")
    captured_by = factory.SubFactory(UserFactory)
    visit_date = datetime.date(2026, 1, 15)


def fundus_like_jpeg(size: int = 512, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A small synthetic photograph: an orange disc on black, distinct per seed (and sha256)."""
    image = Image.new("RGB", (size, size), "black")
    draw = ImageDraw.Draw(image)
    margin = size // 16
    draw.ellipse([margin, margin, size - margin, size - margin], fill=(190, 90 + seed % 60, 40))
    draw.ellipse(
        [size // 3, size // 3, size // 3 + size // 10, size // 3 + size // 10], fill="yellow"
    )
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()
