"""Moving money: the payment-provider port and its adapters (Stripe, the local provider), the
payments of orders and promotions, and paid promotion itself."""
