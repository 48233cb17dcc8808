"""Telling people: realtime pushes (pubsub), the outbox and its delivery channels, preferences,
saved-search alerts and one-time codes."""

from graph.notify.pubsub import Notifier

__all__ = ["Notifier"]
