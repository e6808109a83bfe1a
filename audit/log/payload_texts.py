"""The JSON texts of a log row's payload, made once as the row is built.

`audit.log.entries.to_row` serialises each payload once for all its uses (the token estimate,
the size, the digest, the stored column) and leaves the results under the row's `PAYLOAD_JSON`
key; the chain (`audit.log.chain`) and the insert (`audit.log.row_insert`) read them from there.
"""

from dataclasses import dataclass

#: The row key under which `audit.log.entries.to_row` leaves the payload's `PayloadJson`.
PAYLOAD_JSON = "payload_json"


@dataclass(frozen=True, slots=True)
class PayloadJson:
    """JSON texts of one payload value.

    They hold only while the row's payload is this very object: a payload policy that truncates
    or drops the payload puts a new one in the row, and the texts are then made again.
    """

    payload: object
    canonical: str  # canonical_json(payload)
    sha256: str  # the hex SHA-256 of the canonical text: the row's payload_sha256
    stored: str | None  # json.dumps(payload), what a JSON column kept as text holds, if known
    # json.dumps(payload, ensure_ascii=False) for a payload that is not a string: the same JSON
    # value as `stored`, which a database parsing JSON (PostgreSQL's jsonb) takes as well.
    text: str | None

    @staticmethod
    def of(row: dict) -> "PayloadJson | None":
        texts = row.get(PAYLOAD_JSON)
        return texts if texts is not None and texts.payload is row.get("payload") else None
