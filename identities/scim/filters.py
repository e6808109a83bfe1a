"""SCIM filters (RFC 7644 section 3.4.2.2) turned into database queries.

`scim2-models` parses the filter; this module maps the tree onto the columns that hold each
attribute, so a filter is one indexed query however many people a workspace has. Users filter
on userName, externalId, displayName, emails and id; Groups on displayName, externalId, id and
members. Any other attribute, and an operator that makes no sense for text, is an
`invalidFilter` error rather than a silent match-nothing.
"""

import uuid

from django.db.models import Q
from scim2_models import ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
)
from scim2_models.path.expressions import Present, ValuePath

from identities.scim.errors import invalid_filter
from teams.models import User

# Bounds on what one filter may ask: identity providers send a handful of comparisons, and a
# filter of thousands gives a query the database refuses.
MAX_LENGTH = 1000
MAX_COMPARISONS = 50
MAX_DEPTH = 10

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"

_TEXT_LOOKUPS = {
    CompareOperator.eq: "iexact",
    CompareOperator.co: "icontains",
    CompareOperator.sw: "istartswith",
    CompareOperator.ew: "iendswith",
}


def _user_name_q(lookup: str, value) -> Q:
    # A person provisioned by SCIM keeps the userName it was given; anyone else's is their email.
    # Both columns hold lowercase text, so equality is an exact, indexed comparison.
    if lookup == "iexact":
        lookup, value = "exact", value.lower()
    stored = Q(**{f"scim_user_name__{lookup}": value}) & ~Q(scim_user_name="")
    unset = Q(scim_user_name="") & _email_q(lookup, value)
    return stored | unset


def _email_q(lookup: str, value) -> Q:
    # The people first, by their unique address, rather than a join the planner scans.
    if lookup == "iexact":
        lookup, value = "exact", value.lower()
    return Q(user_id__in=User.objects.filter(**{f"email__{lookup}": value}).values("pk"))


def _external_id_q(lookup: str, value) -> Q:
    # externalId is case-exact (RFC 7643 section 3.1).
    return Q(**{f"external_id__{'exact' if lookup == 'iexact' else lookup}": value})


def user_name_is(user_name: str) -> Q:
    return _user_name_q("iexact", user_name)


def _user_column(attr: str, sub_attr: str | None):
    name = attr.lower()
    if name == "username" and sub_attr is None:
        return _user_name_q
    if name == "externalid" and sub_attr is None:
        return _external_id_q
    if name == "displayname" and sub_attr is None:
        return lambda lookup, value: Q(**{f"scim_attributes__displayName__{lookup}": value})
    if name == "emails" and sub_attr in (None, "value"):
        # The sign-in address is the person's primary email, the one an identity provider
        # matches people on.
        return _email_q
    if name == "id" and sub_attr is None:
        return _id_q("scim_id")
    return None


def _group_column(attr: str, sub_attr: str | None):
    name = attr.lower()
    if name == "displayname" and sub_attr is None:
        return lambda lookup, value: Q(**{f"name__{lookup}": value})
    if name == "externalid" and sub_attr is None:
        return _external_id_q
    if name == "id" and sub_attr is None:
        return _id_q("scim_id")
    if name == "members" and sub_attr in (None, "value"):
        return _id_q("memberships__scim_id")
    return None


def _id_q(column: str):
    def build(lookup: str, value) -> Q:
        if lookup != "iexact":
            raise invalid_filter("Ids are compared with 'eq' only.")
        return Q(**{column: value}) if _is_uuid(value) else Q(pk__in=[])

    return build


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class _Translator:
    def __init__(self, column_for, urn: str):
        self.column_for = column_for
        self.urn = urn.lower()

    def column(self, path: AttrPath, sub_attr: str | None = None):
        if path.uri and path.uri.lower() != self.urn:
            raise invalid_filter(f"Filtering on '{path}' is not supported.")
        column = self.column_for(path.attr, sub_attr or path.sub_attr)
        if column is None:
            raise invalid_filter(f"Filtering on '{path}' is not supported.")
        return column

    def q(self, node: FilterNode, prefix: AttrPath | None = None) -> Q:
        if isinstance(node, LogicalExpr):
            parts = [self.q(term, prefix) for term in node.terms]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if node.op == LogicalOperator.and_ else combined | part
            return combined
        if isinstance(node, Not):
            return ~self.q(node.expr, prefix)
        if isinstance(node, ValuePath):
            return self.q(node.val_filter, node.attr_path)
        if isinstance(node, Present):
            return ~self._compare(node.attr_path, "iexact", "", prefix)
        if isinstance(node, Comparison):
            if node.op == CompareOperator.ne:
                return ~self._compare(node.attr_path, "iexact", node.value, prefix)
            lookup = _TEXT_LOOKUPS.get(node.op)
            if lookup is None:
                raise invalid_filter(f"The operator '{node.op.value}' is not supported here.")
            return self._compare(node.attr_path, lookup, node.value, prefix)
        raise invalid_filter("This filter is not supported.")

    def _compare(self, path: AttrPath, lookup: str, value, prefix: AttrPath | None) -> Q:
        if not isinstance(value, str):
            raise invalid_filter(f"'{path}' is compared with a string.")
        if prefix is not None:
            if path.sub_attr is not None:
                raise invalid_filter(f"'{prefix}[{path}]' is not a filter.")
            return self.column(prefix, path.attr)(lookup, value)
        return self.column(path)(lookup, value)


def _children(node: FilterNode) -> list[FilterNode]:
    if isinstance(node, LogicalExpr):
        return list(node.terms)
    if isinstance(node, Not):
        return [node.expr]
    if isinstance(node, ValuePath):
        return [node.val_filter]
    return []


def _check_size(root: FilterNode) -> None:
    """Refuse a filter of more comparisons or deeper nesting than the bounds above."""
    comparisons = 0
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise invalid_filter(f"A filter nests at most {MAX_DEPTH} levels deep.")
        children = _children(node)
        if not children:
            comparisons += 1
            if comparisons > MAX_COMPARISONS:
                raise invalid_filter(f"A filter has at most {MAX_COMPARISONS} comparisons.")
        pending += [(child, depth + 1) for child in children]


def parse(text: str) -> FilterNode:
    if len(text) > MAX_LENGTH:
        raise invalid_filter(f"A filter has at most {MAX_LENGTH} characters.")
    try:
        root = ScimFilter(text).ast
    except Exception as exc:  # the parser's own errors all say what is wrong with the text
        raise invalid_filter(f"The filter cannot be read: {exc}") from exc
    _check_size(root)
    return root


def users_matching(text: str) -> Q:
    return _Translator(_user_column, USER_URN).q(parse(text))


def groups_matching(text: str) -> Q:
    return _Translator(_group_column, GROUP_URN).q(parse(text))
