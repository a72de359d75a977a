"""Socket.IO packets decoded within bounds.

python-socketio decodes a packet's JSON before any handler runs, so JSON it
cannot handle (nesting deep enough for a ``RecursionError``, a lone
surrogate, an integer of hundreds of digits) used to fail inside the library,
log a traceback and leave the client waiting for an acknowledgement that
never came. :class:`BoundedPacket` reads the JSON with
:func:`exams.shared.json_input.loads`; an event it refuses becomes the event
:data:`REFUSED` carrying the reason, which the namespace acknowledges with
``invalid_input`` like any other bad message.
"""

from __future__ import annotations

import json
from typing import Any

from socketio import packet

from exams.shared import json_input
from exams.shared.errors import InvalidInput

REFUSED = "\x00refused"  # no client can name an event this (it is not valid on the wire)


class _BoundedJson:
    """The ``json`` module python-socketio's packets call: bounded on the way in."""

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        return json_input.loads(text, "the message")


class BoundedPacket(packet.Packet):
    json = _BoundedJson
    packet_type: Any
    data: Any

    def decode(self, encoded_packet: Any) -> int:
        try:
            count = int(super().decode(encoded_packet) or 0)
        except InvalidInput as exc:
            return self._refuse(exc.message)
        except Exception:
            return self._refuse("the message is not a Socket.IO packet")
        if self.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK):
            return self._refuse("binary messages are not accepted; send JSON")
        if self.packet_type == packet.EVENT and not (
            isinstance(self.data, list) and self.data and isinstance(self.data[0], str)
        ):
            return self._refuse("an event must be a list: its name, then its message")
        return count

    def _refuse(self, reason: str) -> int:
        if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
            self.packet_type = packet.EVENT
            self.data = [REFUSED, reason]
        elif self.packet_type not in (packet.CONNECT, packet.DISCONNECT):
            self.packet_type = -1  # nothing to answer: the server ignores it
        else:
            self.data = None  # a connect's auth is not used: the cookie authenticates
        return 0
