"""AI grading: one job per image per model version, and the outcome table the visit roll-up uses."""

import uuid

from django.db import models

from screening.models.image import FundusImage, fundus_storage


class GradingJob(models.Model):
    """The grading of one photograph by one model version: its progress and, on success, its result.

    Re-grading with a new model version adds a row; a row is never overwritten by another model.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Grading"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED)

    image = models.ForeignKey(FundusImage, on_delete=models.PROTECT, related_name="grading_jobs")
    model_version = models.CharField(max_length=64)
    weights_sha256 = models.CharField("SHA-256 of the model weights", max_length=64, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    claim = models.UUIDField(
        null=True, blank=True, help_text="Token of the attempt allowed to write the result."
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the task was last handed to the broker."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the attempt grading the job; the sweeper re-queues the job "
        "when it falls silent.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error_reason = models.TextField(blank=True)

    probabilities = models.JSONField(
        null=True, blank=True, help_text="Model probabilities of ICDR grades 0, 1, 2, 3, 4."
    )
    predicted_grade = models.PositiveSmallIntegerField(
        "AI ICDR grade", null=True, blank=True, help_text="Empty when the image is ungradable."
    )
    referable_probability = models.FloatField(null=True, blank=True)
    referable = models.BooleanField("AI: referable DR (grade 2 or worse)?", null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    referable_threshold = models.FloatField(
        "AI: referable threshold used",
        null=True,
        blank=True,
        help_text="The model card's operating point: P(referable) at or above it is referable. "
        "Empty for gradings stored before it was recorded.",
    )
    calibration = models.CharField(
        "AI: calibration of the probabilities",
        max_length=80,
        blank=True,
        help_text="How the grader calibrated its probabilities (e.g. 'temperature 1.31'); empty "
        "when they are the model's raw softmax.",
    )
    gradable = models.BooleanField("is the image gradable?", null=True, blank=True)
    quality_reason = models.CharField(max_length=40, blank=True)
    quality_detail = models.CharField(max_length=255, blank=True)
    heatmap = models.FileField(storage=fundus_storage, max_length=200, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_version"], name="one_grading_per_image_and_model"
            ),
        ]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"Grading of {self.image_id} by {self.model_version}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def probability_rows(self) -> list[tuple[int, float]]:
        return list(enumerate(self.probabilities or []))

    @property
    def heatmap_registered(self) -> bool:
        """Whether the heatmap is a layer at the photograph's frame (ml.explain.heat_layer_png).
        Gradings stored with their referable threshold (migration 0009 on) have one; older ones
        are blends on the square crop around the fundus and are shown on their own."""
        return bool(self.heatmap) and self.referable_threshold is not None

    def new_claim(self) -> uuid.UUID:
        self.claim = uuid.uuid4()
        return self.claim


class OutcomeRule(models.Model):
    """What a screening result leads to. Data, not code, so a programme can change the mapping."""

    key = models.CharField(
        max_length=8,
        unique=True,
        help_text="ICDR grade 0-4, 'U' (an eye ungradable) or 'DME' (macular oedema present).",
    )
    label = models.CharField(max_length=120, help_text="Shown on reports and worklists.")
    referral = models.BooleanField("does it refer to ophthalmology?", default=False)
    recall_months = models.PositiveSmallIntegerField(
        "rescreen after (months)", null=True, blank=True
    )
    refer_within_weeks = models.PositiveSmallIntegerField(
        "refer within (weeks)", null=True, blank=True
    )

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.label}"
