"""Helpers shared by the test suite: processes, Node tooling, upstream servers, the live gateway
and Chromium (fixture plugins listed in tests/conftest.py), and what tests of several apps build
or read (log entries, rules, config files, OAuth client apps, console pages)."""
