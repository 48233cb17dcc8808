"""Offers and orders in the shape clients read, the same over REST and the WebSocket (the
background worker pushes timer outcomes too, and it has no API to borrow views from)."""

from __future__ import annotations

from typing import Any

from graph.deals.machine import OFFER, ORDER
from graph.infra.ids import iso
from graph.infra.machine import open_events
from graph.payments import money, payment


def offer(row: dict[str, Any], viewer_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "product": {
            "id": row["product_id"],
            "title": row["product_title"],
            "price": money(row["product_price"], row["currency"]),
        },
        "amount": money(row["amount"], row["currency"]),
        "quantity": int(row["quantity"]),
        "status": row["status"],
        "made_by": row["made_by"],
        "buyer_id": row["buyer_id"],
        "seller_id": row["seller_id"],
        "room_id": row["room_id"],
        "thread_id": row["thread_id"],
        "round": int(row.get("round") or 1),
        "order_id": row.get("order_id"),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "expires_at": iso(row.get("expires_at")),
    }
    if viewer_id is not None:
        role = "buyer" if row["buyer_id"] == viewer_id else "seller"
        out["actions"] = open_events(OFFER, row["status"], role=role, made_by=row["made_by"])
    if "thread" in row:
        out["thread"] = [_step(step) for step in row["thread"]]
    return out


def _step(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": money(row["amount"], row["currency"]),
        "quantity": int(row["quantity"]),
        "status": row["status"],
        "made_by": row["made_by"],
        "round": int(row.get("round") or 1),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def order(row: dict[str, Any], viewer_id: str | None = None) -> dict[str, Any]:
    currency = row["currency"]
    out: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "amount": money(row["amount"], currency),
        "quantity": int(row["quantity"]),
        "lines": [
            {
                "product_id": line["product_id"],
                "title": line["title"],
                "quantity": int(line["quantity"]),
                "unit_price": money(line["unit_price"], currency),
            }
            for line in sorted(row["lines"], key=lambda line: line["product_id"])
        ],
        "buyer": {
            "id": row["buyer_id"],
            "handle": row["buyer_handle"],
            "display_name": row["buyer_name"],
        },
        "seller": {
            "id": row["seller_id"],
            "handle": row["seller_handle"],
            "display_name": row["seller_name"],
        },
        "room_id": row["room_id"],
        "offer_id": row.get("offer_id"),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "confirmed_at": iso(row.get("confirmed_at")),
        "completed_at": iso(row.get("completed_at")),
        "cancelled_at": iso(row.get("cancelled_at")),
        "cancelled_by": row.get("cancelled_by"),
        "due": {"event": row["due_event"], "at": iso(row["due_at"])} if row.get("due_at") else None,
        "payment": payment(row, currency, row["buyer_id"], viewer_id),
    }
    if viewer_id is not None:
        role = "buyer" if row["buyer_id"] == viewer_id else "seller"
        out["actions"] = open_events(ORDER, row["status"], role=role)
    return out
