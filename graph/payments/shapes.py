"""A payment as its parties see it, the same over REST, the WebSocket and in promotions."""

from __future__ import annotations

from typing import Any


def money(amount: Any, currency: str) -> dict[str, Any]:
    return {"amount": int(amount), "currency": currency}


def payment(
    row: dict[str, Any], currency: str, payer_id: str, viewer_id: str | None
) -> dict[str, Any] | None:
    """A deal's payment (an order's, a promotion's) as its parties see it; what the client
    needs to pay (the provider's client secret) for the payer only, and only while there is
    something to pay. `row` carries the `payment_*` columns and the deal's `amount`."""
    if not row.get("payment_id"):
        return None
    out: dict[str, Any] = {
        "id": row["payment_id"],
        "status": row["payment_status"],
        "provider": row["payment_provider"],
        "amount": money(row["amount"], currency),
        "refunded": money(row.get("payment_refunded") or 0, currency),
        "dispute": row.get("payment_dispute"),
        "client_secret": None,
    }
    if viewer_id == payer_id and row["payment_status"] in ("pending", "failed"):
        out["client_secret"] = row.get("payment_secret")
    return out
