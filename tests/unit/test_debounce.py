"""desk/debounce.py: synthetic bouncy edge sequences in, press events out (no I/O, no clock).

gpiozero's mock pins do not bounce, so the debouncer is tested here with edges as a real
contact makes them: a burst of a few fast edges at press and at release.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.debounce import ButtonEvent, PressClassifier, earliest

DEB = 0.030
LONG = 1.5


def burst(t: float, final: bool, bounces: int, gap: float = 0.002) -> list[tuple[float, bool]]:
    """Contact chatter ending on `final`: `bounces` extra edge pairs, `gap` apart."""
    levels = [final, not final] * bounces + [final]
    return [(t + i * gap, lv) for i, lv in enumerate(levels)]


def run(
    edges: list[tuple[float, bool]],
    until: float,
    *,
    step: float | None = None,
    clf: PressClassifier | None = None,
) -> list[ButtonEvent]:
    """Feed edges in order; poll every `step` seconds (None: only at the end)."""
    c = clf or PressClassifier(debounce_s=DEB, long_press_s=LONG)
    out: list[ButtonEvent] = []
    polls: list[float] = []
    if step:
        n = int(until / step) + 1
        polls = [i * step for i in range(n)]
    # (a stable sort: edges at the same time keep their order)
    timeline = sorted(
        [(t, 0, lv) for t, lv in edges] + [(t, 1, None) for t in polls], key=lambda x: x[:2]
    )
    for t, kind, lv in timeline:
        if kind == 0:
            assert lv is not None
            out += c.edge(t, lv)
        else:
            out += c.poll(t)
    out += c.poll(until)
    return out


def kinds(events: list[ButtonEvent]) -> list[str]:
    return [e.kind for e in events]


# ---------------------------------------------------------------------------- basics


def test_a_clean_short_press_fires_on_release() -> None:
    c = PressClassifier(debounce_s=DEB, long_press_s=LONG)
    assert c.edge(1.0, True) == []
    assert c.poll(1.029) == []
    assert c.poll(1.031) == [] and c.pressed
    assert c.edge(1.2, False) == []
    assert c.poll(1.229) == [] and c.pressed
    ev = c.poll(1.231)
    assert kinds(ev) == ["press"] and ev[0].at == pytest.approx(1.23)
    assert ev[0].held_s == pytest.approx(0.2)
    assert not c.pressed and c.next_deadline() is None


def test_chatter_at_press_and_release_gives_one_press() -> None:
    edges = burst(1.0, True, 4) + burst(1.3, False, 5)
    for step in (None, 0.001, 0.01, 0.1):
        ev = run(edges, 3.0, step=step)
        assert kinds(ev) == ["press"], step
        # held from the last edge of the press burst to the first edge of the release burst
        assert ev[0].held_s == pytest.approx(1.3 - (1.0 + 8 * 0.002))


def test_a_glitch_shorter_than_the_debounce_interval_is_ignored() -> None:
    assert run([(1.0, True), (1.02, False)], 5.0, step=0.005) == []
    assert run([*burst(1.0, True, 3), (1.015, False)], 5.0) == []


def test_a_press_just_over_the_debounce_interval_counts() -> None:
    assert kinds(run([(1.0, True), (1.031, False)], 2.0, step=0.001)) == ["press"]


def test_a_long_press_fires_once_while_held() -> None:
    c = PressClassifier(debounce_s=DEB, long_press_s=LONG)
    for t, lv in burst(1.0, True, 3):
        assert c.edge(t, lv) == []
    pressed_at = 1.0 + 6 * 0.002
    assert c.poll(pressed_at + LONG - 0.001) == []
    assert c.next_deadline() == pytest.approx(pressed_at + LONG)
    ev = c.poll(pressed_at + LONG + 0.5)  # a late poll: the event keeps its due time
    assert kinds(ev) == ["long"] and ev[0].at == pytest.approx(pressed_at + LONG)
    assert ev[0].held_s == LONG
    assert c.poll(10.0) == []  # once only, however long it is held
    out: list[ButtonEvent] = []
    for t, lv in burst(12.0, False, 4):
        out += c.edge(t, lv)
    out += c.poll(13.0)
    assert out == []  # its release fires nothing


def test_a_long_press_is_decided_by_an_edge_after_the_threshold() -> None:
    # No poll in between: the release edge itself reveals that the threshold passed.
    c = PressClassifier(debounce_s=DEB, long_press_s=LONG)
    c.edge(1.0, True)
    assert kinds(c.edge(3.0, False)) == ["long"]
    assert c.poll(4.0) == []


def test_chatter_at_release_near_the_threshold() -> None:
    # The release burst starts before the threshold and settles after it: a short press.
    start = 1.0
    edges = [(start, True), *burst(start + LONG - 0.01, False, 5, gap=0.004)]
    ev = run(edges, 5.0, step=0.001)
    assert kinds(ev) == ["press"]
    assert ev[0].held_s <= LONG
    # The release starts just after the threshold: the long press fired while held.
    edges = [(start, True), *burst(start + LONG + 0.002, False, 5, gap=0.004)]
    assert kinds(run(edges, 5.0, step=0.001)) == ["long"]
    assert kinds(run(edges, 5.0)) == ["long"]


def test_a_glitch_while_held_does_not_split_the_press() -> None:
    edges = [(1.0, True), (1.5, False), (1.505, True), (2.0, False)]
    ev = run(edges, 3.0, step=0.002)
    assert kinds(ev) == ["press"] and ev[0].held_s == pytest.approx(1.0)
    # A glitch across the threshold: the long press fires once the contact is calm.
    edges = [(1.0, True), (2.49, False), (2.51, True), (4.0, False)]
    ev = run(edges, 5.0, step=0.002)
    assert kinds(ev) == ["long"] and ev[0].at == pytest.approx(2.51 + DEB)
    assert kinds(run(edges, 5.0)) == ["long"]


def test_a_button_held_at_start_fires_nothing_until_released() -> None:
    c = PressClassifier(debounce_s=DEB, long_press_s=LONG, pressed=True, now=0.0)
    assert c.poll(10.0) == []
    assert c.edge(10.0, False) == [] and c.poll(11.0) == []
    assert kinds(run([(12.0, True), (12.2, False)], 13.0, clf=c)) == ["press"]


def test_repeated_levels_are_not_edges() -> None:
    c = PressClassifier(debounce_s=DEB, long_press_s=LONG)
    c.edge(1.0, True)
    c.edge(1.02, True)  # the same level again: the settle time does not move
    assert c.poll(1.031) == [] and c.pressed


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        PressClassifier(debounce_s=-1)
    with pytest.raises(ValueError):
        PressClassifier(debounce_s=0.5, long_press_s=0.4)


def test_earliest() -> None:
    assert earliest([None, 3.0, 1.0]) == 1.0 and earliest([None]) is None


# ---------------------------------------------------------------------------- properties

presses = st.lists(
    st.tuples(
        st.floats(min_value=0.05, max_value=3.0),  # held
        st.floats(min_value=0.05, max_value=2.0),  # gap to the next press
        st.integers(min_value=0, max_value=6),  # bounces at press
        st.integers(min_value=0, max_value=6),  # bounces at release
        st.floats(min_value=0.0005, max_value=0.004),  # chatter gap
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(presses=presses, step=st.sampled_from([None, 0.002, 0.007, 0.05, 0.5]))
def test_every_bouncy_press_gives_exactly_one_event_of_the_right_kind(
    presses: list[tuple[float, float, int, int, float]], step: float | None
) -> None:
    """Chatter (bursts shorter than the debounce interval) never adds or loses a press,
    and the kind follows how long the contact was held, whenever the caller polls."""
    t = 1.0
    edges: list[tuple[float, bool]] = []
    expected: list[str] = []
    for held, gap, b_in, b_out, chatter in presses:
        down = burst(t, True, b_in, chatter)
        settled = down[-1][0]
        up = burst(settled + held, False, b_out, chatter)
        edges += down + up
        # held = from the last press edge to the first edge of the release burst.
        if abs(held - LONG) < 0.001:  # keep clear of float rounding at the threshold
            held += 0.1
            up = burst(settled + held, False, b_out, chatter)
            edges[-len(up) :] = up
        expected.append("long" if held >= LONG else "press")
        t = up[-1][0] + DEB + gap
    ev = run(edges, t + 5.0, step=step)
    assert kinds(ev) == expected
    assert all(a.at <= b.at for a, b in itertools.pairwise(ev))
    for e in ev:
        assert e.held_s <= LONG + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    glitches=st.lists(
        st.tuples(
            st.floats(min_value=0.05, max_value=10.0), st.floats(min_value=0.0, max_value=0.029)
        ),
        max_size=10,
    )
)
def test_glitches_shorter_than_the_debounce_interval_never_fire(
    glitches: list[tuple[float, float]],
) -> None:
    edges: list[tuple[float, bool]] = []
    t = 0.0
    for gap, width in glitches:
        t += gap + DEB
        edges += [(t, True), (t + width, False)]
        t += width
    assert run(edges, t + 5.0, step=0.003) == []
