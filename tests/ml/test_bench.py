"""ml.bench: images/second, peak memory and progress on stderr (tiny real grader)."""

from __future__ import annotations

from ml.bench import run_bench


def test_bench_reports_rates_peak_memory_and_progress(tiny_grader, capsys):
    result = run_bench(tiny_grader, batches=(1, 2), min_seconds=0.01)
    assert set(result["model_only_images_per_second"]) == {"1", "2"}
    assert result["end_to_end_batch8_images_per_second"] > 0
    assert result["peak_rss_mb"] > 50  # TensorFlow alone takes more
    peaks = result["peak_rss_mb_after"]
    assert peaks["loaded"] <= peaks["model_only_batch1"] <= result["peak_rss_mb"]
    err = capsys.readouterr().err
    assert "[bench] 4/4 measurements (100 %)" in err
