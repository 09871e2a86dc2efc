"""How often does the laterality check agree with the labelled eye? `python -m bench.laterality`

Runs screening.laterality on the natural-colour labelled photographs (the eye is in the file
name: `10_left`, `Patient001_L`) and prints, per data set:
- coverage: the share of photographs the check answers (not "unsure");
- accuracy: of those, the share whose answer is the labelled eye (anatomical convention: the
  disc of a right eye on the viewer's right);
- pairs: patients with both eyes answered, and the share whose two discs lie on opposite sides
  (a check of the disc finder that does not depend on which way a camera shows the eye).

Thresholds in screening/laterality.py were set on EyePACS patients with an even id ("tune"); the
odd ids ("test") and srahim-1024 (another camera and population) were not looked at while
setting them. Options: --data DIR (default $DR_DATA_DIR, else ../shared/data beside the
repository), --limit N per set, --dump FILE.csv (one row per photograph).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from screening.laterality import LateralityFinding, laterality_of

SETS = ("eyepacs-natural", "srahim-1024")
NAME = re.compile(r"^(?P<patient>.+?)[_-](?P<eye>left|right|L|R)$")


@dataclass(frozen=True)
class Row:
    data_set: str
    part: str
    patient: str
    eye: str
    finding: LateralityFinding


def labelled(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """(patient, eye, path) for every photograph whose name carries its eye."""
    for path in sorted((folder / "images").glob("*.jp*g")):
        match = NAME.match(path.stem)
        if match:
            eye = {"L": "left", "R": "right"}.get(match["eye"], match["eye"])
            yield match["patient"], eye, path


def part_of(data_set: str, patient: str) -> str:
    if data_set != "eyepacs-natural":
        return "all (held out)"
    return "tune" if int(patient) % 2 == 0 else "test"


def run(data: Path, limit: int | None) -> list[Row]:
    rows = []
    for data_set in SETS:
        for n, (patient, eye, path) in enumerate(labelled(data / data_set)):
            if limit is not None and n >= limit:
                break
            with Image.open(path) as picture:
                finding = laterality_of(picture)
            rows.append(Row(data_set, part_of(data_set, patient), patient, eye, finding))
    return rows


def summary(rows: list[Row]) -> list[str]:
    lines = [
        f"{'data set':<18}{'part':<16}{'n':>5}{'coverage':>10}{'accuracy':>10}"
        f"{'  (correct/answered)':<22}{'pairs opposite':>16}"
    ]
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.data_set, row.part), []).append(row)
        groups.setdefault((row.data_set, "all"), []).append(row)
    for (data_set, part), group in sorted(groups.items()):
        if data_set == "srahim-1024" and part == "all":
            continue
        answered = [r for r in group if r.finding.looks_like != "unsure"]
        correct = sum(r.finding.looks_like == r.eye for r in answered)
        opposite, pairs = _pairs(answered)
        lines.append(
            f"{data_set:<18}{part:<16}{len(group):>5}{_pct(len(answered), len(group)):>10}"
            f"{_pct(correct, len(answered)):>10}  ({correct}/{len(answered)}){'':<10}"
            f"{_pct(opposite, pairs):>8} of {pairs}"
        )
    return lines


def _pairs(answered: list[Row]) -> tuple[int, int]:
    by_patient: dict[str, dict[str, str]] = {}
    for row in answered:
        by_patient.setdefault(row.patient, {})[row.eye] = row.finding.looks_like
    both = [eyes for eyes in by_patient.values() if len(eyes) == 2]
    return sum(eyes["left"] != eyes["right"] for eyes in both), len(both)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "—"


def dump(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["data_set", "part", "patient", "eye", "looks_like", "disc_x", "disc_y",
                         "prominence", "lead", "reason"])  # fmt: skip
        for r in rows:
            f = r.finding
            numbers = [f"{f.disc_x:.3f}", f"{f.disc_y:.3f}", f"{f.prominence:.2f}", f"{f.lead:.2f}"]
            writer.writerow(
                [r.data_set, r.part, r.patient, r.eye, f.looks_like, *numbers, f.reason]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(
            os.environ.get("DR_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
        ),
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--dump", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = run(args.data, args.limit)
    elapsed = time.perf_counter() - started
    print("\n".join(summary(rows)))
    each = 1000 * elapsed / max(len(rows), 1)
    print(f"{len(rows)} photographs in {elapsed:.1f} s ({each:.0f} ms each)")
    if args.dump:
        dump(rows, args.dump)


if __name__ == "__main__":
    main()
