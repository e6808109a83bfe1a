"""SCIM 2.0 (RFC 7643, RFC 7644): a workspace's identity provider creates, changes, suspends and
removes its people (SCIM Users: memberships) and teams (SCIM Groups) at `/scim/v2/<workspace>/`.

The SCIM data model, filters and PATCH semantics are those of `scim2-models`; this package maps
them onto memberships and teams through the tenancy services, so every change takes the same
path as the console, the API and SSO.
"""
