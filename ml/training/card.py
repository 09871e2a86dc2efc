"""The model card the training pipeline writes (``ml.card`` renders and evaluates it)."""

from __future__ import annotations

import os
import platform
import time

from ml.training.config import PipelineConfig

BAR = {"val_auc": 0.85, "val_kappa": 0.60, "natural_auc": 0.85}


def describe_machine(explicit: str | None = None) -> str:
    """``explicit`` (``--machine``), else what this host says about itself."""
    if explicit:
        return explicit
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def ensemble_text(names: list[str], grid: list[dict], weights, n_views: int, step: float) -> str:
    """How the ensemble was chosen, with the five best tune scores."""
    top = sorted(grid, key=lambda g: -g["score"])[:5]
    best = "; ".join(
        ", ".join(f"{n} {w}" for n, w in zip(names, g["weights"], strict=True))
        + f", {g['views']} view(s): {g['tune']['referable_auc']} / "
        f"{g['tune']['quadratic_weighted_kappa']}"
        for g in top
    )
    parts = ", ".join(f"{n} ({w})" for n, w in zip(names, weights, strict=True))
    return (
        f"Weighted average of {parts}, each averaged over {n_views} test-time view(s); "
        f"weights on a {step} grid and view "
        f"counts chosen on the tune split by referable AUC + kappa ({len(grid)} candidates; "
        f"best five, tune AUC / kappa: {best})."
    )


def known_issues(card: dict) -> list[str]:
    """Tune-vs-val gap and the project's bar, from the card's metrics."""
    sel = card["selection_metrics_cached"]
    ev = card.get("evaluation", {})
    val, nat = ev.get("val_eyepacs256", {}), ev.get("natural_dedup", {})
    issues = [
        f"Tune (used for epochs, ensemble, cut points and threshold) vs val on preprocessed "
        f"images: referable AUC {sel['tune']['referable_auc']} vs {sel['val']['referable_auc']}, "
        f"kappa {sel['tune']['quadratic_weighted_kappa']} vs "
        f"{sel['val']['quadratic_weighted_kappa']}; choices on tune are optimistic, val and the "
        "unseen sets are the honest numbers."
    ]
    misses = []
    if (val.get("referable_auc") or 0) < BAR["val_auc"]:
        misses.append(f"val AUC {val.get('referable_auc')} < {BAR['val_auc']}")
    if (val.get("quadratic_weighted_kappa") or 0) < BAR["val_kappa"]:
        misses.append(f"kappa {val.get('quadratic_weighted_kappa')} < {BAR['val_kappa']}")
    if nat and (nat.get("referable_auc") or 0) < BAR["natural_auc"]:
        misses.append(f"natural AUC {nat.get('referable_auc')} < {BAR['natural_auc']}")
    if misses:
        issues.append("THE BAR IS NOT MET: " + ", ".join(misses) + ".")
    return issues


def build_card(
    cfg: PipelineConfig,
    ensemble: list[dict],
    members: dict,
    n_views: int,
    cuts,
    threshold: float,
    calibration: dict | None,
    selection: dict,
    choice_text: str,
    n_images: dict,
    command: str,
    previous: dict,
) -> dict:
    """The card of a freshly trained ensemble; the experiment history of ``previous`` is kept."""
    from ml.training.ensemble import VIEW_SETS

    arch = ", ".join(
        f"{e['member']} weight {e['weight']}"
        + (f" (input upsampled to {e['upsample']} px in the model)" if e.get("upsample") else "")
        for e in ensemble
    )
    card = {
        "model_version": cfg.version,
        "weights_file": ensemble[0]["weights_file"],
        "weights_sha256": ensemble[0]["sha256"],
        "architecture": "ensemble of EfficientNet-Lite0 graders "
        f"({'ImageNet init, ' if cfg.pretrained else 'random init, '}fine-tuned; GAP + dropout "
        f"+ 5-way softmax): {arch}; Grad-CAM from {ensemble[0]['member']}",
        "input_size": cfg.input_size,
        "width": cfg.width,
        "preprocessing": "ml.preprocess.preprocess_bytes (disc crop, Ben-Graham local "
        "normalisation, circle clip)",
        "ensemble": ensemble,
        "tta_views": list(VIEW_SETS[n_views]),
        "grade_cut_points": list(cuts),
        "referable_threshold": threshold,
        "referable_threshold_rule": f"largest threshold with sensitivity >= "
        f"{cfg.referable_sensitivity} on the tune split",
        "data": {
            "train_set": cfg.train_set,
            "split_seed": cfg.split_seed,
            "split_fractions": dict(
                zip(("train", "tune", "val"), cfg.split_fractions, strict=True)
            ),
            "n_images": n_images,
            "split_file": "split.json",
        },
        "members": members,
        "ensemble_choice": {"text": choice_text},
        "selection_metrics_cached": selection,
        "training_command": command,
        "training_config": cfg.to_json(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if ensemble[0].get("upsample"):
        card["upsample"] = ensemble[0]["upsample"]
    if calibration:
        card["calibration"] = calibration
    for key in ("experiments", "quality_report"):  # a new model needs a new bench
        if previous.get(key):
            card[key] = previous[key]
    return card
