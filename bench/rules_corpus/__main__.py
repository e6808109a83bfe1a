"""`python -m bench.rules_corpus --out DIR` writes the labelled corpus out as JSON lines."""

from bench.rules_corpus import main

main()
