"""The labelled corpus of the rules benchmark and of the redaction test.

`build()` returns tool results (MCP `tools/call` results: text content and structured content)
of three styles, JSON records, source files and logs, with secrets and personal data planted in
them and decoys that look like secrets but are not (UUIDs, git SHAs, digests, base64 images,
npm integrity hashes, placeholders and the documented AWS example keys). Every planted value and
decoy is labelled with its kind. The corpus is generated, deterministically from a fixed seed,
rather than committed, because no credential-shaped literal is ever committed to this
repository (`rules/detectors/secret_kinds.py`); the same seed gives the same bytes everywhere.

    .venv/bin/python -m bench.rules_corpus --out var/rules-corpus   # write it out to read
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.rules_corpus import values
from bench.rules_corpus.styles import STYLES
from bench.rules_corpus.values import Label

SEED = 20260411
RECORDS = 600
# How many times each kind is planted.
SECRET_COPIES = 8
PII_COPIES = 24


@dataclass
class Record:
    style: str
    result: dict
    labels: list[Label] = field(default_factory=list)

    def jsonl(self) -> str:
        return json.dumps(self.result, ensure_ascii=False)


def build(
    seed: int = SEED,
    records: int = RECORDS,
    secret_copies: int = SECRET_COPIES,
    pii_copies: int = PII_COPIES,
) -> list[Record]:
    """The corpus: `records` tool results with every kind planted a fixed number of times."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    plan: list[list[str]] = [[] for _ in range(records)]
    kinds = [k for k in values.SECRET_KINDS for _ in range(secret_copies)]
    kinds += [k for k in values.PII_KINDS for _ in range(pii_copies)]
    for kind in kinds:
        plan[rng.randrange(records)].append(kind)
    out = []
    for i, planted in enumerate(plan):
        style = STYLES[i % len(STYLES)]
        ctx = values.Planter(rng)
        result = style.render(rng, ctx, planted)
        out.append(Record(style.name, result, ctx.labels()))
    return out


def planted_kinds() -> tuple[str, ...]:
    return values.SECRET_KINDS + values.PII_KINDS


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the labelled corpus out as JSON lines.")
    parser.add_argument("--out", type=Path, required=True, help="a directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = build()
    with (
        (args.out / "corpus.jsonl").open("w") as results,
        (args.out / "labels.jsonl").open("w") as labels,
    ):
        for i, record in enumerate(corpus):
            results.write(record.jsonl() + "\n")
            for label in record.labels:
                labels.write(json.dumps({"record": i, **asdict(label)}) + "\n")
    print(f"{len(corpus)} records in {args.out}")


if __name__ == "__main__":
    main()
