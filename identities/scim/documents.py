"""Memberships as SCIM Users and teams as SCIM Groups: the documents the endpoint answers with,
their ETags, and the client's documents read through the `scim2-models` data model."""

import hashlib
import json

import email_validator
from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, Group, User

from identities.scim.errors import ScimError
from teams.models import Membership, Team

# scim2-models checks emails with email-validator, which refuses special-use domains. Companies
# mail each other at `.local` addresses (Okta's own examples use them) and `.test` is what test
# directories use; neither is refused here. The list is email-validator's documented setting.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in ("local", "test")
]

USER_MODEL = User[EnterpriseUser]
GROUP_MODEL = Group
ENTERPRISE_URN = EnterpriseUser.__schema__


def etag_of(document: dict) -> str:
    body = {key: value for key, value in document.items() if key != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:20]}"'


def _meta(document: dict, *, resource_type: str, location: str, created) -> dict:
    document["meta"] = {
        "resourceType": resource_type,
        "created": created.isoformat(),
        "location": location,
        "version": etag_of(document),
    }
    return document


def _default_user_attributes(membership: Membership) -> dict:
    """What a person not provisioned by SCIM looks like to a SCIM client."""
    user = membership.user
    attributes = {
        "userName": user.email,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
    }
    names = {"givenName": user.first_name, "familyName": user.last_name}
    names = {key: value for key, value in names.items() if value}
    if names:
        attributes["name"] = names
        attributes["displayName"] = " ".join(names.values())
    return attributes


def user_document(membership: Membership, *, base: str) -> dict:
    """The membership as a SCIM User; its teams are its `groups`."""
    attributes = dict(membership.scim_attributes) or _default_user_attributes(membership)
    schemas = [USER_MODEL.__schema__]
    if ENTERPRISE_URN in attributes:
        schemas.append(ENTERPRISE_URN)
    document = {"schemas": schemas, "id": str(membership.scim_id)}
    if membership.external_id:
        document["externalId"] = membership.external_id
    document.update(attributes)
    # `active` is shown when the client set it, when the person is suspended, and for people
    # not provisioned by SCIM; a client that removed it sees it absent (absent means active).
    if "active" in document or not membership.active or not membership.scim_attributes:
        document["active"] = membership.active
    groups = [
        {
            "value": str(team.scim_id),
            "$ref": f"{base}Groups/{team.scim_id}",
            "display": team.name,
            "type": "direct",
        }
        for team in membership.teams.all()
    ]
    if groups:
        document["groups"] = groups
    return _meta(
        document,
        resource_type="User",
        location=f"{base}Users/{membership.scim_id}",
        created=membership.created_at,
    )


def group_document(team: Team, *, base: str, members) -> dict:
    """The team as a SCIM Group; `members` are its memberships."""
    document = {"schemas": [GROUP_MODEL.__schema__], "id": str(team.scim_id)}
    if team.external_id:
        document["externalId"] = team.external_id
    document["displayName"] = team.name
    listed = [
        {
            "value": str(member.scim_id),
            "$ref": f"{base}Users/{member.scim_id}",
            "type": "User",
        }
        for member in members
    ]
    if listed:
        document["members"] = listed
    created = getattr(team, "created_at", None) or team.workspace.created_at
    return _meta(
        document, resource_type="Group", location=f"{base}Groups/{team.scim_id}", created=created
    )


def _attribute_names(names, urn: str) -> set[str]:
    """`attributes` entries as lowercase `attr` or `attr.sub` paths of the document."""
    out = set()
    for name in names:
        name = name.strip().lower()
        if name.startswith(urn.lower() + ":"):
            name = name[len(urn) + 1 :]
        elif name.startswith(ENTERPRISE_URN.lower() + ":"):
            name = f"{ENTERPRISE_URN.lower()}.{name[len(ENTERPRISE_URN) + 1 :]}"
        out.add(name)
    return out


def _pick(value, subs: set[str], keep: bool):
    """The sub-attributes of `value` named in `subs` (keep) or all but those (not keep)."""
    if isinstance(value, list):
        return [_pick(item, subs, keep) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if (k.lower() in subs) == keep}
    return value


def shaped(document: dict, *, attributes=(), excluded=()) -> dict:
    """The document as the client asked for it (RFC 7644 section 3.4.2.5): with `attributes`,
    only those (and `id` and `schemas`, always returned); with `excludedAttributes`, all but
    those. The stored values are shown as they are, whatever their format."""
    if not attributes and not excluded:
        return document
    urn = document["schemas"][0]
    always = {"id", "schemas"}
    if attributes:
        wanted = _attribute_names(attributes, urn)
        out = {}
        for key, value in document.items():
            name = key.lower()
            if name in always or name in wanted:
                out[key] = value
                continue
            subs = {w.split(".", 1)[1] for w in wanted if w.startswith(name + ".")}
            if subs:
                out[key] = _pick(value, subs, keep=True)
        return out
    unwanted = _attribute_names(excluded, urn)
    out = {}
    for key, value in document.items():
        name = key.lower()
        if name in unwanted and name not in always:
            continue
        subs = {w.split(".", 1)[1] for w in unwanted if w.startswith(name + ".")}
        out[key] = _pick(value, subs, keep=False) if subs else value
    return out


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else error["msg"]


# Errors in the shape of the document rather than in one of its values.
_SYNTAX_ERRORS = {"extra_forbidden", "schema_error", "unknown_extension_schema", "model_type"}


def _scim_type(exc: ValidationError) -> str:
    error = exc.errors()[0]
    kind = error.get("type", "")
    if error.get("loc", ())[:1] == ("schemas",):
        return "invalidSyntax"
    if kind.startswith("scim_"):
        return kind[len("scim_") :]
    return "invalidSyntax" if kind in _SYNTAX_ERRORS else "invalidValue"


def _without_bare_schemas(model, body: dict) -> dict:
    """The body without schema URNs this endpoint does not know and under which it carries no
    attribute: Microsoft Entra names its own on every Group. One with attributes is refused."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or not hasattr(model, "get_extension_models"):
        return body
    known = {str(model.__schema__).lower()} | {
        str(urn).lower() for urn in model.get_extension_models()
    }
    if str(model.__schema__).lower() not in {str(urn).lower() for urn in schemas}:
        return body  # refused as it is: the resource's own schema is missing
    keys = {str(key).lower() for key in body}
    kept = [
        urn
        for urn in schemas
        if not isinstance(urn, str) or urn.lower() in known or urn.lower() in keys
    ]
    return body if kept == schemas else {**body, "schemas": kept}


def read(model, body, *, context: Context):
    """The client's document, checked against the SCIM schema (unknown attributes refused)."""
    if not isinstance(body, dict):
        raise ScimError("The body must be a JSON object.", scim_type="invalidSyntax")
    body = _without_bare_schemas(model, body)
    try:
        return model.model_validate(body, scim_ctx=context)
    except ValidationError as exc:
        raise ScimError(_first(exc), scim_type=_scim_type(exc)) from exc


def stored_attributes(resource) -> dict:
    """What of a User document is kept beside the membership's columns.

    Dumped as a response would show it, so write-only values (a password) are never stored.
    """
    document = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for key in ("schemas", "id", "meta", "externalId", "groups"):
        document.pop(key, None)
    return document
