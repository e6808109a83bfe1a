"""A hint index narrowed to a few targets finds, for them, what the whole index finds: by
`str.find` when it has few hints, by its own automaton otherwise."""

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.detectors.hints import FEW, HintIndex
from rules.detectors.secret_kinds import KINDS

_PAIRS = [(hint, spec.kind) for spec in KINDS for hint in spec.hints]
_WHOLE = HintIndex(_PAIRS)
_HINTS = sorted({hint.lower() for hint, _ in _PAIRS})
_TEXT = st.lists(
    st.one_of(st.sampled_from(_HINTS), st.text(alphabet="abcxyz_-=: 0123", max_size=6)),
    max_size=20,
).map("".join)
_KINDS = st.sets(st.sampled_from(sorted({spec.kind for spec in KINDS})), min_size=1, max_size=4)


def _sorted(found: dict) -> dict:
    return {target: sorted(starts) for target, starts in found.items()}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=_TEXT, kinds=_KINDS)
def test_a_narrowed_index_finds_what_the_whole_one_finds_of_its_targets(text, kinds):
    narrowed = _WHOLE.narrowed(lambda kind: kind in kinds)
    whole = {k: v for k, v in _WHOLE.positions(text).items() if k in kinds}
    assert _sorted(narrowed.positions(text)) == _sorted(whole)
    assert narrowed.targets(text) == set(whole)
    hints = {hint.lower() for hint, kind in _PAIRS if kind in kinds}
    assert sorted(narrowed.starts(text)) == sorted(s for h in hints for s in _all(text, h))


def _all(text: str, hint: str) -> list[int]:
    return [i for i in range(len(text)) if text.startswith(hint, i)]


def test_overlapping_occurrences_are_found_one_by_one_too():
    few = HintIndex([("aa", "x"), ("aaa", "y")]).narrowed(lambda _target: True)
    assert few._few is not None  # looked for by `str.find`
    assert _sorted(few.positions("aaaa")) == {"x": [0, 1, 2], "y": [0, 1]}
    assert sorted(few.starts("aaaa")) == [0, 0, 1, 1, 2]


def test_many_hints_keep_their_automaton():
    many = HintIndex([(f"h{i:02d}", i) for i in range(FEW + 1)]).narrowed(lambda _t: True)
    assert many._few is None
    assert many.positions("h00 h08") == {0: [0], 8: [4]}
