"""A logging filter that keeps patient data out of log files.

Application code logs only primary keys and UUIDs. What it does not control are database error
messages: PostgreSQL's "DETAIL: Key (site_id, mrn)=(1, H-0001) already exists." ends up in the
traceback of an unhandled IntegrityError. This filter redacts such key values (and failing row
contents) in the message and in the formatted traceback before any handler writes them.
"""

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = [
    # DETAIL:  Key (site_id, lower(mrn::text))=(1, h-0001) already exists.
    (re.compile(r"(Key \(.*?\)=\().*?(\) (?:already exists|is not present|conflicts))"), "KEY"),
    # DETAIL:  Failing row contains (1, H-0001, Jane, ...).
    (re.compile(r"(Failing row contains \().*(\))"), "ROW"),
]


def redact(text: str) -> str:
    for pattern, _kind in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}\g<2>", text)
    return text


class RedactPatientDataFilter(logging.Filter):
    """Rewrites the record in place; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class NoTracebackForClientErrorsFilter(logging.Filter):
    """A refused request (403, 404) is logged as one line: its traceback is noise, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info, record.exc_text = None, None
        return True
