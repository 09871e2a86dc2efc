"""Progress lines of long commands: done / total, rate, time left, throttled."""

from __future__ import annotations

import io

from ml.progress import Progress, format_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_done_rate_and_time_left_at_most_every_interval():
    clock, out = Clock(), io.StringIO()
    p = Progress(100, "evaluate", every=10.0, stream=out, clock=clock)
    for _ in range(10):  # 10 images in 5 s: no line yet
        clock.now += 0.5
        p.update()
    assert out.getvalue() == ""
    for _ in range(10):  # 20 images in 10 s: one line
        clock.now += 0.5
        p.update()
    lines = out.getvalue().splitlines()
    assert lines == ["[evaluate] 20/100 images (20 %), 2.00 images/s, about 40 s left"]
    clock.now += 30.0
    p.update(80)
    p.close()
    assert (
        out.getvalue().splitlines()[-1]
        == "[evaluate] 100/100 images (100 %), 2.50 images/s, done in 40 s"
    )


def test_format_seconds():
    assert format_seconds(42) == "42 s"
    assert format_seconds(75) == "1 min 15 s"
    assert format_seconds(3725) == "1 h 2 min"


def test_close_does_not_repeat_the_last_line():
    clock, out = Clock(), io.StringIO()
    p = Progress(2, "x", every=0.0, stream=out, clock=clock)
    clock.now = 1.0
    p.update(2)
    p.close()
    assert out.getvalue().splitlines() == ["[x] 2/2 images (100 %), 2.00 images/s, done in 1 s"]
