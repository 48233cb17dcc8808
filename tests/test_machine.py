"""The offer and order tables hold together: every timer is a transition the scheduler may
fire, terminal states are final, and each party is offered the moves the table gives it."""

from __future__ import annotations

import pytest

from graph.deals.machine import MACHINES, OFFER, ORDER, allowed, open_events
from graph.settings import Settings


@pytest.mark.parametrize("machine", MACHINES.values(), ids=lambda m: m.name)
def test_every_timer_is_a_system_transition_with_a_setting(machine) -> None:
    for state, timer in machine.timers.items():
        transition = machine.find(state, timer.event)
        assert transition is not None, (state, timer.event)
        assert "system" in transition.who
        assert float(getattr(Settings(), timer.setting)) > 0


@pytest.mark.parametrize("machine", MACHINES.values(), ids=lambda m: m.name)
def test_no_state_has_two_transitions_for_one_event_and_terminals_have_none(machine) -> None:
    pairs = [(t.source, t.event) for t in machine.transitions]
    assert len(pairs) == len(set(pairs))
    assert machine.initial in machine.states
    for state in machine.terminal:
        assert not [t for t in machine.transitions if t.source == state]
        assert state not in machine.timers


def test_only_the_party_without_the_offer_on_the_table_answers_it() -> None:
    accept = OFFER.find("open", "accept")
    assert accept is not None
    assert allowed(accept, role="seller", made_by="buyer")
    assert not allowed(accept, role="buyer", made_by="buyer")
    assert allowed(accept, role="buyer", made_by="seller")
    assert open_events(OFFER, "open", role="buyer", made_by="buyer") == ["withdraw"]
    assert open_events(OFFER, "open", role="buyer", made_by="seller") == [
        "accept",
        "counter",
        "decline",
        "withdraw",
    ]
    assert open_events(OFFER, "accepted", role="seller", made_by="buyer") == []


def test_order_moves_by_party_and_what_gives_stock_back() -> None:
    assert open_events(ORDER, "placed", role="buyer") == ["cancel"]
    assert open_events(ORDER, "placed", role="seller") == ["cancel", "confirm"]
    assert open_events(ORDER, "confirmed", role="buyer") == ["complete"]
    assert open_events(ORDER, "confirmed", role="seller") == ["cancel"]
    assert ORDER.terminal == {"completed", "cancelled"}
    restocking = {t.target for t in ORDER.transitions if t.restock}
    assert restocking == {"cancelled"}
    assert all(t.restock for t in ORDER.transitions if t.target == "cancelled")
