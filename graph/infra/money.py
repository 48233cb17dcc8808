"""Money: integer minor units with an ISO-4217 currency, never a float; and in words, for
the lines deals write into a room and the notifications they send."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "SEK": "SEK "}
ZERO_DECIMAL = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})


def money_text(amount: int, currency: str) -> str:
    """12.50 EUR as €12.50, for the lines deals write into a room."""
    symbol = SYMBOLS.get(currency, currency + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount // 100:,}.{amount % 100:02d}"
