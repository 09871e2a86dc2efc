#!/usr/bin/env python3
"""The README's worked example of the REST API, with the standard library only.

Registers a patient, opens a visit, uploads the photographs of each eye given, polls until the AI
has graded them, and prints the results (and, once a doctor has signed, where the report is):

    python scripts/api_example.py --url http://127.0.0.1:8000 --token drp_... \
        --right right.jpg --left left.jpg

Tag each photograph with the eye it shows: the shipped samples (ml/samples) are all left eyes.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = ""):
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        # The URL is the operator's own --url (http or https).
        request = urllib.request.Request(self.url + path, body, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as error:  # every error has the same JSON body
            problem = json.load(error)["error"]
            sys.exit(
                f"{method} {path}: {problem['status']} {problem['message']} {problem['fields']}"
            )

    def post_json(self, path: str, data: dict):
        return self.call("POST", path, json.dumps(data).encode(), "application/json")

    def upload(self, visit_id: int, photo: Path, eye: str):
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="eye"\r\n\r\n{eye}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{photo.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(),
            photo.read_bytes(),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        content_type = f"multipart/form-data; boundary={boundary}"
        return self.call("POST", f"/visits/{visit_id}/images/", b"".join(parts), content_type)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--mrn", default=f"EX-{uuid.uuid4().hex[:6].upper()}")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for grading")
    parser.add_argument("--right", type=Path, help="photograph of the right eye")
    parser.add_argument("--left", type=Path, help="photograph of the left eye")
    args = parser.parse_args()
    if not (args.right or args.left):
        parser.error("give a photograph of at least one eye (--right and/or --left)")
    api = Api(args.url, args.token)

    patient = api.post_json(
        "/patients/",
        {
            "mrn": args.mrn,
            "given_name": "Ada",
            "family_name": "Example",
            "date_of_birth": "1961-07-14",
        },
    )
    visit = api.post_json("/visits/", {"patient": patient["id"], "camera": "API example"})
    for eye, photo in (("right", args.right), ("left", args.left)):
        if photo is None:
            continue
        image = api.upload(visit["id"], photo, eye)
        print(f"uploaded {photo.name} as the {eye} eye: image {image['id']}")

    deadline = time.monotonic() + args.timeout
    while True:
        results = api.call("GET", f"/visits/{visit['id']}/results/")
        if results["grading_finished"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    for image in results["images"]:
        grading = image["grading"]
        print(
            f"{image['eye']:5s} {grading['status']}: grade {grading['predicted_grade']}, "
            f"gradable {grading['gradable']}, referable {grading['referable']} "
            f"(P(referable) {grading['referable_probability'] or 0:.0%})"
        )
    print(
        f"visit {visit['id']}: {results['status']}, AI overall grade {results['ai_overall_grade']}"
    )
    print(json.dumps({"patient": patient["id"], "visit": visit["id"], "results": results}))
    if not results["grading_finished"]:
        sys.exit("grading did not finish in time")


if __name__ == "__main__":
    main()
