"""Buyer-seller chat: rooms about a listing, messages, unread counts, the system lines deals
write into a room.
May import: catalog, infra.
"""

from graph.messaging.service import (
    ROOM_MERGE,
    SYSTEM_MESSAGE,
    SYSTEM_UNREAD,
    MessagingService,
    message_shape,
    room_params,
    system_params,
)

__all__ = [
    "ROOM_MERGE",
    "SYSTEM_MESSAGE",
    "SYSTEM_UNREAD",
    "MessagingService",
    "message_shape",
    "room_params",
    "system_params",
]
