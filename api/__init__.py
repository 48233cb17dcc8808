"""Vendr's HTTP + WebSocket API: a thin Sanic adapter over the services in `graph`."""
