"""Any path under /api/v1/ that no route matches: a 404 in the API's one error shape (JSON),
not the console's HTML page, whatever the method and whoever asks."""

from rest_framework.exceptions import NotFound
from rest_framework.views import APIView


class UnknownEndpoint(APIView):
    authentication_classes = ()
    permission_classes = ()
    schema = None  # not an operation of the API

    def initial(self, request, *args, **kwargs):
        raise NotFound("No such endpoint.")
