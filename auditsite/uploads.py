"""Upload handling: the size limit is enforced while the body streams in, not after."""

from __future__ import annotations

from typing import NoReturn

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room for the multipart boundaries and the small form fields sent alongside the file.
_FORM_OVERHEAD_BYTES = 64 * 1024


def max_upload_bytes() -> int:
    """The largest file accepted, from settings.MAX_UPLOAD_MB."""
    return settings.MAX_UPLOAD_MB * 1024 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops an upload once a file passes MAX_UPLOAD_MB; marks the request so the view can say so.

    A body whose declared length is already too big is refused before a byte is stored. The rest
    of the body is read and discarded (``connection_reset=False``) so the browser receives the
    page with the message instead of a reset connection.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.declared_length = content_length or 0
        self.received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        if self.declared_length > max_upload_bytes() + _FORM_OVERHEAD_BYTES:
            self._refuse()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > max_upload_bytes():
            self._refuse()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self) -> NoReturn:
        if self.request is not None:  # handlers from FILE_UPLOAD_HANDLERS always have one
            # A mark of this request only, read back by the upload view with getattr.
            setattr(self.request, "upload_too_large", True)  # noqa: B010
        raise StopUpload(connection_reset=False)
