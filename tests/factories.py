"""factory_boy factories for the domain, and graded and read visits built through the services;
role fixtures in conftest.py build on them."""

import datetime
import io

import factory
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from accounts.models import Site, User
from patients.models import Patient
from screening.models import GradingJob, Review, Visit
from screening.rules import parse_grade
from screening.services.grading import visit_rollup
from screening.services.images import image_attach
from screening.services.review import eye_reading_record, review_start, review_submit


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


# --- graded visits and doctors' readings (no Celery or TensorFlow) --------------------------------

PASSWORD = "correct-horse-battery"  # UserFactory's password


def probabilities_for(grade: int, confidence: float = 0.8) -> list[float]:
    rest = round((1 - confidence) / 4, 5)
    return [confidence if g == grade else rest for g in range(5)]


def heatmap_png(size: int = 256, seed: int = 0) -> bytes:
    image = Image.new("RGB", (size, size), (0, 0, 80 + seed % 150))
    ImageDraw.Draw(image).ellipse([size // 3, size // 3, size // 2, size // 2], fill="red")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_graded_visit(
    *,
    nurse: User,
    patient: Patient,
    right: int | None = 0,
    left: int | None = 0,
    confidence: float = 0.8,
    heatmaps: bool = False,
) -> Visit:
    """A visit with one photograph per eye, graded by the AI (None: ungradable), rolled up;
    gradable images get a heatmap file when `heatmaps`."""
    visit = VisitFactory(patient=patient, captured_by=nurse, camera="Topcon TRC-NW400")
    for seed, (eye, grade) in enumerate((("right", right), ("left", left))):
        upload = SimpleUploadedFile(f"{eye}.jpg", fundus_like_jpeg(seed=seed + 10))
        image, _ = image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field="macula")
        gradable = grade is not None
        GradingJob.objects.filter(image=image).update(
            status=GradingJob.Status.SUCCEEDED,
            model_version="test-model-1.0",
            gradable=gradable,
            quality_reason="" if gradable else "blur",
            quality_detail="" if gradable else "Out of focus",
            predicted_grade=grade,
            probabilities=probabilities_for(grade, confidence) if gradable else None,
            referable_probability=(confidence if grade >= 2 else 1 - confidence)
            if gradable
            else None,
            referable=grade >= 2 if gradable else None,
            confidence=confidence if gradable else None,
        )
    if heatmaps:
        for job in GradingJob.objects.filter(image__visit=visit, gradable=True):
            png = ContentFile(heatmap_png(seed=job.pk))
            name = job.heatmap.storage.save(f"hm/{job.pk}.png", png)
            GradingJob.objects.filter(pk=job.pk).update(heatmap=name)
    assert visit_rollup(visit=visit)
    visit.refresh_from_db()
    return visit


def read_visit(
    doctor: User,
    visit: Visit,
    right: str = "0",
    left: str = "0",
    *,
    dme: str = "absent",
    submit: bool = True,
    **submit_kwargs: object,
) -> Review:
    """A doctor's whole reading through the services: each eye ('U' = ungradable), then submit."""
    review = review_start(actor=doctor, visit=visit)
    for eye, code in (("right", right), ("left", left)):
        eye_reading_record(
            actor=doctor,
            review=review,
            eye=eye,
            gradable=code != "U",
            grade=parse_grade(code) if code != "U" else None,
            dme="not_assessable" if code == "U" else dme,
            ungradable_reason="Media opacity" if code == "U" else "",
        )
    if submit:
        review = review_submit(actor=doctor, review=review, **submit_kwargs)
    return review
