"""Socket.IO packets the server would fail on become a refused event, never an exception."""

from __future__ import annotations

import pytest
from socketio import packet

from signaling.packets import REFUSED, BoundedPacket


@pytest.mark.parametrize(
    "encoded,words",
    [
        ("21" + "[" * 100_000 + "]" * 100_000, "nested more than"),
        ('21["open_session",{"role":"\\ud800"}]', "not valid Unicode"),
        ('21["open_session",{"resume":' + "9" * 400 + "}]", "outside"),
        ('21["open_session",', "not valid JSON"),
        ('21{"role":"primary"}', "must be a list"),
        ("21[]", "must be a list"),
        ("21[5]", "must be a list"),
        ('51-1["open_session",{"_placeholder":true,"num":0}]', "binary"),
    ],
)
def test_a_bad_event_becomes_the_refused_event_with_its_id(encoded: str, words: str) -> None:
    pkt = BoundedPacket(encoded_packet=encoded)
    assert pkt.packet_type == packet.EVENT and pkt.id == 1
    assert pkt.data[0] == REFUSED and words in pkt.data[1], pkt.data
    assert pkt.attachment_count == 0


def test_good_packets_decode_as_before() -> None:
    pkt = BoundedPacket(encoded_packet='23["open_session",{"role":"primary"}]')
    assert (pkt.packet_type, pkt.id, pkt.data) == (
        packet.EVENT,
        3,
        ["open_session", {"role": "primary"}],
    )
    assert BoundedPacket(encoded_packet='0{"token":"\\ud800"}').data is None  # auth: unused
    assert BoundedPacket(encoded_packet="3" + "[" * 5000).packet_type == -1  # acks: ignored
    sent = BoundedPacket(packet.EVENT, ["take_stored", {"name": "张三"}]).encode()
    assert sent == '2["take_stored",{"name":"\\u5f20\\u4e09"}]'
