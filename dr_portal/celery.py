"""The Celery application. Workers: `celery -A dr_portal worker -Q grading` (see README)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dr_portal.settings.local")

app = Celery("dr_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def load_grader_after_fork(**_kwargs: object) -> None:
    """Load the model once per worker child, after the fork (TensorFlow does not survive fork).

    The child reports "up" to the worker only after this returns, so a replacement child (after a
    kill, an out-of-memory kill or a hard time limit) needs CELERY_WORKER_PROC_ALIVE_TIMEOUT to
    cover the model load. GRADING_PRELOAD=0 loads it on the child's first task instead.
    """
    if os.environ.get("GRADING_PRELOAD", "1") == "1":
        from screening.services.grading import get_grader

        get_grader()
