"""Request body parsers of the API. Every body a parser cannot read is a 400 `parse_error` in the
API's one error body, never a 500: whatever a client sends, it is told what was wrong.

Django refuses a JSON body over `DATA_UPLOAD_MAX_MEMORY_SIZE` before it is parsed (a 413).
"""

import codecs
import json
import math
import re
from typing import Any

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request of this API nests deeper than 2 levels; 32 leaves room for any sane client and keeps
# the recursive JSON decoder far from Python's recursion limit.
MAX_JSON_DEPTH = 32
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what it would otherwise crash on or silently accept: nesting
    deeper than MAX_JSON_DEPTH, text that is not in the declared charset, NaN and Infinity (also
    as 1e400), and
    an object naming the same key twice (which of two MRNs did the client mean?)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = _encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeError as error:
            raise ParseError(
                f"The body is not valid {encoding} text ({error.reason} at byte {error.start})."
                if isinstance(error, UnicodeDecodeError)
                else f"The body is not valid {encoding} text."
            ) from None
        _check_depth(text)
        try:
            return json.loads(
                text.removeprefix("\ufeff"),  # a UTF-8 byte order mark: RFC 8259 lets us skip it
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                object_pairs_hook=_object_without_duplicate_keys,
            )
        except RecursionError:  # only reachable if MAX_JSON_DEPTH is raised near the limit
            raise ParseError(
                f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep."
            ) from None
        except ValueError as error:  # JSONDecodeError, and numbers too long to convert
            raise ParseError(f"The body is not valid JSON: {error}.") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; a body Django's parser cannot read is a parse error, not a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except (MultiPartParserError, UnicodeError, ValueError) as error:
            raise ParseError(f"The multipart body cannot be read: {error}.") from None


def _encoding(parser_context: dict[str, Any]) -> str:
    """The declared charset (UTF-8 by default); one that is not a text encoding is a parse error."""
    encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
    try:
        "".encode(encoding)  # unlike codecs.lookup(), refuses non-text codecs such as base64
    except (LookupError, UnicodeError):
        raise ParseError(f'The charset "{encoding}" is not a text encoding.') from None
    return encoding


def _check_depth(text: str) -> None:
    """Refuse deep nesting before the recursive decoder sees it. Brackets inside strings do not
    count (the pattern skips whole strings); a malformed body is left for the decoder to report."""
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
        elif char in "]}":
            depth -= 1


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python would read infinity
        raise ValueError(f"{text} is too large a number")
    return value


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'the key "{key}" appears twice in one object')
        result[key] = value
    return result
