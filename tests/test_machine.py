"""The offer and order tables hold together: every timer is a transition the scheduler may
fire, terminal states are final, and each party is offered the moves the table gives it."""

from __future__ import annotations

import pytest

from graph.deals.machine import MACHINES, OFFER, ORDER
from graph.infra.machine import allowed, open_events
from graph.infra.settings import Settings
from graph.payments.machine import PAYMENT


@pytest.mark.parametrize("machine", MACHINES.values(), ids=lambda m: m.name)
def test_every_timer_is_a_system_transition_with_a_setting(machine) -> None:
    for state, timer in machine.timers.items():
        transition = machine.find(state, timer.event)
        assert transition is not None, (state, timer.event)
        assert "system" in transition.who
        if timer.setting is None:  # the deal brings its own period (a promotion's plan)
            assert machine.name == "promotion" and state == "active"
            continue
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


def test_paid_orders_wait_for_the_provider_and_give_money_back_when_cancelled() -> None:
    # the buyer and seller see the same buttons on a paid order as on a placed one
    assert open_events(ORDER, "payment_pending", role="buyer") == ["cancel"]
    assert open_events(ORDER, "payment_pending", role="seller") == ["cancel"]
    assert open_events(ORDER, "paid", role="seller") == ["cancel", "confirm"]
    pay = ORDER.find("payment_pending", "pay")
    assert pay is not None and pay.who == {"provider"} and pay.target == "paid"
    # a paid order's card is authorised: the seller's confirmation captures it
    confirm = ORDER.find("paid", "confirm")
    assert confirm is not None and confirm.payment == "capture"
    # every way out before the capture voids, every way out after it refunds, except what
    # the provider did itself (a refund at its dashboard, an authorisation that lapsed)
    for t in ORDER.transitions:
        if t.target != "cancelled" or t.source == "placed":
            continue
        if t.event in ("refunded", "voided"):
            assert t.payment is None and t.who == {"provider"}, t
        elif t.source in ("payment_pending", "paid"):
            assert t.payment == "void", t
        else:
            assert (t.source, t.payment) == ("confirmed", "refund"), t
    assert ORDER.timers["payment_pending"].event == "unpaid"


def test_a_payment_never_goes_back_to_waiting_once_settled() -> None:
    # out-of-order events match no row: a failure after the success, a success after a refund
    assert PAYMENT.find("succeeded", "fail") is None
    assert PAYMENT.find("refunded", "succeed") is None
    assert PAYMENT.find("succeeded", "succeed") is None
    assert PAYMENT.terminal == {"refunded"}
    # a customer may try another card after a decline
    assert PAYMENT.find("failed", "succeed") is not None
    assert PAYMENT.find("failed", "authorize") is not None
    # an authorisation is captured by Vendr, or voided (by Vendr, or lapsed at the provider)
    assert {t.event for t in PAYMENT.transitions if t.source == "authorized"} == {
        "capture",
        "succeed",
        "cancel",
    }
    assert PAYMENT.find("capturing", "refund") is None  # nothing to refund before the capture
