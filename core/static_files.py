"""Static files (the console's scripts and styles, the API docs' bundles) served by WhiteNoise,
streamed under ASGI as an async iterator.

WhiteNoise answers with a `FileResponse` over the open file, a plain iterator. Django's ASGI
handler then reads the whole file on a thread before it sends a byte, and warns ("must consume
synchronous iterators") in every worker's log. Here, under ASGI, the file is read a block at a
time off the event loop instead; under WSGI the response is WhiteNoise's own.
"""

from collections.abc import AsyncIterator

from django.core.handlers.asgi import ASGIRequest
from whitenoise.middleware import WhiteNoiseMiddleware

from core.streaming import read_file_in_thread


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    @staticmethod
    def serve(static_file, request):
        response = WhiteNoiseMiddleware.serve(static_file, request)
        if isinstance(request, ASGIRequest):
            # No file for a HEAD request or a 304: an empty body, async too.
            filelike = response.file_to_stream
            response.streaming_content = (
                _no_body() if filelike is None else read_file_in_thread(filelike)
            )
        return response


async def _no_body() -> AsyncIterator[bytes]:
    for block in ():
        yield block
