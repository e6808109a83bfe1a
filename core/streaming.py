"""Streamed file downloads (log and change exports, static files) that stay streamed under ASGI.

Django's ASGI handler reads a `StreamingHttpResponse` built from a plain iterator whole into
memory before it sends the first byte. Under ASGI the lines are therefore handed over as an
async iterator that reads a batch at a time on the thread that owns the database connection
(the thread the view ran on), so an export of any size holds one batch in memory. Under WSGI
(and Django's test client) the plain iterator is streamed as it is.
"""

from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

LINES_PER_READ = 500
# A static file's blocks: one thread hop per 64 KiB rather than per FileResponse's 4 KiB.
BYTES_PER_READ = 64 * 1024


async def read_in_thread(
    lines: Iterator[str], *, batch: int = LINES_PER_READ
) -> AsyncIterator[str]:
    """The lines for an ASGI server, `batch` at a time, read with thread-sensitive sync code."""
    read = sync_to_async(lambda: "".join(islice(lines, batch)))
    while chunk := await read():
        yield chunk


async def read_file_in_thread(filelike, *, size: int = BYTES_PER_READ) -> AsyncIterator[bytes]:
    """An open file's bytes for an ASGI server, `size` at a time, each read on a worker thread
    (a file read needs no database connection, so none waits for the request's thread)."""
    read = sync_to_async(filelike.read, thread_sensitive=False)
    while block := await read(size):
        yield block


def _is_asgi(request) -> bool:
    # A REST framework request wraps Django's own, which it keeps as `_request`.
    return isinstance(getattr(request, "_request", request), ASGIRequest)


def streamed_download(
    request, lines: Iterator[str], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """A download of `lines` as an attachment named `filename`, streamed under WSGI and ASGI."""
    content = read_in_thread(lines) if _is_asgi(request) else lines
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
