"""Identities: how callers authenticate to gateways, and how gateways present identity upstream."""
