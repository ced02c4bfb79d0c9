"""Input generation: edge values per type, determinism under a seed, and
examples that survive their printed (JSON) form."""

import pytest
from hypothesis import given, settings

from pvdsl.arch import ARCHES
from pvdsl.fuzz.values import BulkGenerator, Example, Param, describe_params, edge_values, example_strategy
from pvdsl.sema import types as T


def test_edge_values_of_signed_and_unsigned():
    s32 = Param("x", "int", 32, True)
    assert {-(1 << 31), -1, 0, 1, (1 << 31) - 1} <= set(edge_values(s32))
    u8 = Param("x", "int", 8, False)
    assert set(edge_values(u8)) >= {0, 1, 127, 128, 255} and max(edge_values(u8)) == 255
    assert edge_values(Param("b", "bool", 8, False)) == [0, 1]


def test_word_types_follow_the_arch_and_cr3_is_a_machine_value_natively():
    params = (("flags", T.ULONG), ("cr3", T.ULONG), ("p", T.PtrType(T.U32)))
    for arch in ARCHES.values():
        d = describe_params(params, arch, native=True)
        assert [p.bits for p in d] == [arch.word_bits] * 3
        assert d[1].hint == "cr3" and d[2].kind == "ptr"
        assert describe_params(params, arch, native=False)[1].hint is None


def test_the_bulk_generator_is_deterministic_and_stays_in_range():
    params = (Param("a", "int", 32, True), Param("b", "int", 64, False), Param("p", "ptr", 64, False))
    a = [BulkGenerator(params, 16, 64, 7, False).next() for _ in range(1)]
    g1, g2 = BulkGenerator(params, 16, 64, 7, False), BulkGenerator(params, 16, 64, 7, False)
    seq1 = [g1.next() for _ in range(200)]
    assert seq1 == [g2.next() for _ in range(200)]
    assert seq1[0] == a[0]
    assert seq1 != [BulkGenerator(params, 16, 64, 8, False).next() for _ in range(200)]
    for ex in seq1:
        assert -(1 << 31) <= ex.args[0] < (1 << 31) and 0 <= ex.args[1] < (1 << 64)
        assert len(ex.junk) == 16 and ex.flags_if == 1
    assert any(ex.args[0] in (-(1 << 31), (1 << 31) - 1) for ex in seq1)
    assert any("p" in ex.pointers for ex in seq1) and any("p" not in ex.pointers for ex in seq1)


@settings(max_examples=50, deadline=None)
@given(example_strategy((Param("a", "int", 16, True), Param("p", "ptr", 32, False)), 8, 32, True))
def test_examples_round_trip_through_json(ex):
    assert Example.from_json(ex.to_json()) == ex


@pytest.mark.parametrize("text, message", [
    ("[1]", "a JSON object with an 'args' list"),
    ('{"args": [], "colour": 1}', "unknown example field(s): colour"),
])
def test_bad_replay_examples_are_refused(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Example.from_json(text)
