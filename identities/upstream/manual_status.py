"""Where a person stands with a `manual` assignment: their own credential set, the shared one
used in its place, or nothing; as "My upstream connections" and the OAuth consent page show it.

Expects an assignment from `selectors.manual_assignments_for` (`mine` and `shared` prefetched).
"""

OWN = "your own token set"
SHARED = "using the shared credential"
NOT_SET = "not set"


def own_credential(assignment):
    """The person's own credential, enabled or not, or None."""
    return assignment.mine[0] if assignment.mine else None


def status_of(assignment) -> str:
    # The same order as the data plane (identities/upstream/brokering.py): one's own, then the
    # shared one.
    mine = own_credential(assignment)
    if mine is not None and mine.disabled_at is None:
        return OWN
    if assignment.shared:
        return SHARED
    return NOT_SET
