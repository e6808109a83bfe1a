"""The base every sink kind builds on, and the one error a delivery attempt can end in."""

from abc import ABC, abstractmethod

from django.conf import settings


class SinkFailure(Exception):
    """The sink did not accept a batch; `reason` is safe to store and show (no secrets)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:500]


class Transport(ABC):
    """Sends batches of log records (the JSON Lines export's rows) to one kind of sink.

    `send` returns only once the sink has accepted the whole batch, and raises `SinkFailure`
    otherwise: delivery moves the cursor on that return alone.
    """

    kind = ""

    def __init__(self, sink, secret: dict):
        self.sink = sink
        self.secret = secret
        self.timeout = settings.SIEM_TIMEOUT_SECONDS

    @classmethod
    @abstractmethod
    def clean_endpoint(cls, endpoint: str, networks: list, *, tls: bool) -> str:
        """The endpoint as stored; raises ValueError saying what is wrong with it."""

    @abstractmethod
    def send(self, records: list[dict]) -> None:
        """Deliver the whole batch or raise `SinkFailure`."""
