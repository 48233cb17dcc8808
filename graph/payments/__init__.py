"""Money: the payment-provider port and its adapters (Stripe, the local provider, none), the
payments of orders and promotions (authorised, captured, refunded in whole or in part,
disputed), the double-entry ledger, seller payouts, and paid promotion itself.
May import: catalog, notify, infra.
"""

from graph.payments.ledger import Ledger
from graph.payments.local import LocalProvider, run_deliveries
from graph.payments.machine import PAYMENT, PROMOTION
from graph.payments.owed import owe_params, owe_payment, run_settlements
from graph.payments.payouts import PayoutService, run_payouts
from graph.payments.port import PaymentProvider
from graph.payments.promotions import PromotionService
from graph.payments.service import PaymentService
from graph.payments.shapes import money, payment
from graph.payments.stripe_provider import StripeProvider
from graph.payments.unconfigured import NoProvider

__all__ = [
    "PAYMENT",
    "PROMOTION",
    "Ledger",
    "LocalProvider",
    "NoProvider",
    "PaymentProvider",
    "PaymentService",
    "PayoutService",
    "PromotionService",
    "StripeProvider",
    "money",
    "owe_params",
    "owe_payment",
    "payment",
    "run_deliveries",
    "run_payouts",
    "run_settlements",
]
