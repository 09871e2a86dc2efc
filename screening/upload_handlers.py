"""Receiving multipart uploads (web and API) with each file's name as the client sent it.

Django keeps only the part of a file name after the last slash or backslash and skips a file named
"..": a name with a path would be accepted under another name, or the file silently dropped. The
fundus checks refuse such names instead (`screening.validators.validate_filename`), so they need
the name as sent, which this handler keeps on each file as `name_as_sent`.
"""

import html
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str

# What Django's parser is given for a name it would discard (".."), so the file reaches the checks.
UNUSABLE_NAME = "unnamed"


class NameAsSentMultiPartParser(MultiPartParser):
    """Django's multipart parser, recording each file's name as sent before Django cleans it."""

    _name_as_sent = ""
    # Django's own attributes (not declared in django-stubs).
    _upload_handlers: list[FileUploadHandler]
    _files: MultiValueDict
    _encoding: str

    def sanitize_file_name(self, file_name: str) -> str:
        self._name_as_sent = html.unescape(file_name)
        return super().sanitize_file_name(file_name) or UNUSABLE_NAME

    def handle_file_complete(self, old_field_name: str, counters: list[int]) -> None:
        # Django's own method, plus the name as sent on the finished file.
        for i, handler in enumerate(self._upload_handlers):
            file_obj = handler.file_complete(counters[i])
            if file_obj:
                file_obj.name_as_sent = self._name_as_sent  # type: ignore[attr-defined]
                self._files.appendlist(
                    force_str(old_field_name, self._encoding, errors="replace"), file_obj
                )
                break


class KeepNameAsSentUploadHandler(FileUploadHandler):
    """First of `FILE_UPLOAD_HANDLERS`: parses the whole body with `NameAsSentMultiPartParser`,
    handing the file data to the other (Django's default) handlers."""

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[Any, Any] | None:
        if self.request is None:
            return None
        others = [h for h in self.request.upload_handlers if h is not self]
        return NameAsSentMultiPartParser(META, input_data, others, encoding).parse()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data  # never reached: the body is parsed in handle_raw_input

    def file_complete(self, file_size: int) -> None:
        return None
