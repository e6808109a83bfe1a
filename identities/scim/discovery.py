"""What the endpoint says about itself (RFC 7644 section 4): ServiceProviderConfig,
ResourceTypes and Schemas, generated from the `scim2-models` classes the endpoint reads with,
so what it announces and what it accepts cannot drift apart."""

from functools import cache

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Patch,
    ResourceType,
    ServiceProviderConfig,
    Sort,
)

from identities.scim.documents import GROUP_MODEL, USER_MODEL

MAX_RESULTS = 200
_QUERY = Context.RESOURCE_QUERY_RESPONSE


def _located(document: dict, base: str, endpoint: str, resource_type: str) -> dict:
    document = dict(document)
    meta = dict(document.get("meta") or {})
    meta["location"] = f"{base}{endpoint}"
    meta["resourceType"] = resource_type
    document["meta"] = meta
    return document


def _each_located(documents: dict[str, dict], base: str, endpoint: str, resource_type: str):
    return {
        key: _located(document, base, f"{endpoint}/{key}", resource_type)
        for key, document in documents.items()
    }


def service_provider_config(base: str) -> dict:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="SCIM token",
                description="A workspace's SCIM token (gth_...) as a bearer token.",
                primary=True,
            )
        ],
    ).model_dump(scim_ctx=_QUERY)
    return _located(config, base, "ServiceProviderConfig", "ServiceProviderConfig")


@cache
def _resource_types() -> dict[str, dict]:
    return {
        model.__name__.split("[")[0]: ResourceType.from_resource(model).model_dump(scim_ctx=_QUERY)
        for model in (USER_MODEL, GROUP_MODEL)
    }


def resource_types(base: str) -> dict[str, dict]:
    return _each_located(_resource_types(), base, "ResourceTypes", "ResourceType")


@cache
def _schemas() -> dict[str, dict]:
    models = [USER_MODEL, GROUP_MODEL, *USER_MODEL.get_extension_models().values()]
    out = {}
    for model in models:
        schema = model.to_schema().model_dump(scim_ctx=_QUERY)
        out[schema["id"]] = schema
    # A member's `display` is not kept: members are listed by id, whatever a client sends.
    for attribute in out[GROUP_MODEL.__schema__]["attributes"]:
        if attribute["name"] == "members":
            for sub in attribute.get("subAttributes", []):
                if sub["name"] == "display":
                    sub["mutability"] = "readOnly"
    return out


def schemas(base: str) -> dict[str, dict]:
    return _each_located(_schemas(), base, "Schemas", "Schema")
