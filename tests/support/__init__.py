"""Helpers shared by the test suite: processes, Node tooling, upstream servers."""
