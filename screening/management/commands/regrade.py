"""Queue photographs for grading by the current model version (after deploying new weights)."""

import datetime

from django.core.management.base import BaseCommand, CommandParser

from screening.models import FundusImage
from screening.services.grading import current_model_version, regrade_images


class Command(BaseCommand):
    help = (
        "Queue images that have no result from the current model version. Old results stay; "
        "signed visits keep the AI result they were signed with."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--visit", type=int, action="append", help="Only this visit (repeat).")
        parser.add_argument(
            "--since", type=datetime.date.fromisoformat, help="Only images uploaded on or after."
        )

    def handle(
        self, *args: object, visit: list[int] | None, since: datetime.date | None, **_: object
    ) -> None:
        images = FundusImage.objects.all()
        if visit:
            images = images.filter(visit_id__in=visit)
        if since:
            images = images.filter(uploaded_at__date__gte=since)
        queued = regrade_images(images)
        self.stdout.write(f"Queued {queued} image(s) for model {current_model_version()}.")
