"""Tenancy: workspaces, people, roles made of capabilities, and teams."""
