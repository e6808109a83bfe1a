"""Audit: the record of what happened, from configuration changes to every hop of a call."""
