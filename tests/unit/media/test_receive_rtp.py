"""The receive path's RTP parser reads what aiortc's ``RtpPacket.parse`` reads, for
every field the receive path uses (tests/integration/test_receive_path.py compares the
two on every packet of a real call too)."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from media import receive_rtp

ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
TOFFSET = "urn:ietf:params:rtp-hdrext:toffset"


def extensions_map(**ids: int) -> HeaderExtensionsMap:
    uris = {
        "mid": MID,
        "abs": ABS_SEND_TIME,
        "level": AUDIO_LEVEL,
        "tcc": TRANSPORT_CC,
        "toffset": TOFFSET,
    }
    mapping = HeaderExtensionsMap()
    mapping.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uris[name]) for name, i in ids.items()
            ]
        )
    )
    return mapping


def ids_of(mapping: HeaderExtensionsMap) -> HeaderExtensions:
    ids: HeaderExtensions = mapping._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    return ids


def what_the_path_reads(packet: RtpPacket) -> dict[str, Any]:
    return {
        "version": packet.version,
        "marker": packet.marker,
        "payload_type": packet.payload_type,
        "sequence_number": packet.sequence_number,
        "timestamp": packet.timestamp,
        "ssrc": packet.ssrc,
        "csrc": packet.csrc,
        "payload": packet.payload,
        "padding_size": packet.padding_size,
        "abs_send_time": packet.extensions.abs_send_time,
        "audio_level": packet.extensions.audio_level,
    }


def assert_same(data: bytes, mapping: HeaderExtensionsMap) -> RtpPacket:
    theirs = RtpPacket.parse(data, mapping)
    ours = receive_rtp.parse(data, ids_of(mapping))
    assert type(ours) is RtpPacket and type(ours.extensions) is HeaderExtensions
    assert what_the_path_reads(ours) == what_the_path_reads(theirs)
    return ours


def packet(**fields: Any) -> RtpPacket:
    extensions = fields.pop("extensions", {})
    p = RtpPacket(
        payload_type=fields.pop("payload_type", 96),
        marker=fields.pop("marker", 1),
        sequence_number=fields.pop("sequence_number", 65535),
        timestamp=fields.pop("timestamp", 0xFFFFFFFE),
        ssrc=fields.pop("ssrc", 0x89ABCDEF),
        payload=fields.pop("payload", bytes(range(200))),
    )
    p.csrc = fields.pop("csrc", [])
    for name, value in extensions.items():
        setattr(p.extensions, name, value)
    assert not fields
    return p


VIDEO = {"abs_send_time": 0xABCDEF, "mid": "0", "transport_sequence_number": 513}
AUDIO = {"audio_level": (True, 33), "mid": "1"}


@pytest.mark.parametrize(
    ("ids", "fields"),
    [
        ({"mid": 1, "abs": 2, "tcc": 4}, {"extensions": VIDEO}),  # Chromium video, one-byte
        ({"mid": 1, "level": 3}, {"extensions": AUDIO, "payload_type": 111, "marker": 0}),
        ({"mid": 1, "abs": 2}, {}),  # no extension element at all
        ({"mid": 1, "abs": 2}, {"extensions": {"mid": "0"}}),  # only what the path ignores
        ({"mid": 1, "abs": 2}, {"csrc": [1, 0xFFFFFFFF], "extensions": VIDEO}),
        ({"mid": 1, "abs": 15, "tcc": 4}, {"extensions": VIDEO}),  # id 15: two-byte form
        ({"mid": 1, "level": 200}, {"extensions": AUDIO}),  # two-byte, large id
        ({"mid": 1, "abs": 2, "toffset": 5}, {"extensions": {**VIDEO, "mid": "x" * 16}}),
        ({"mid": 1, "abs": 2}, {"payload": b""}),
    ],
)
def test_the_fields_the_receive_path_reads_are_aiortcs(
    ids: dict[str, int], fields: dict[str, Any]
) -> None:
    mapping = extensions_map(**ids)
    assert_same(packet(**fields).serialize(mapping), mapping)


def test_padding_is_left_out_as_aiortc_does() -> None:
    mapping = extensions_map(mid=1, abs=2)
    data = bytearray(packet(extensions=VIDEO).serialize(mapping))
    data[0] |= 0x20
    data += bytes(7) + b"\x08"
    ours = assert_same(bytes(data), mapping)
    assert ours.padding_size == 8 and len(ours.payload) == 200


def test_an_extension_block_in_an_unknown_profile_is_skipped() -> None:
    mapping = extensions_map(mid=1, abs=2)
    data = bytearray(packet().serialize(mapping))
    data[0] |= 0x10
    data[12:12] = b"\x12\x34\x00\x01" + b"\x21\xab\xcd\xef"
    ours = assert_same(bytes(data), mapping)
    assert ours.extensions.abs_send_time is None


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x60\x00",  # shorter than a header
        b"\x40" + bytes(11),  # version 1
        b"\x82" + bytes(11) + bytes(4),  # two CSRCs announced, one present
        b"\x90" + bytes(11) + b"\xbe\xde",  # extension header cut short
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4),  # extension block cut short
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x01" + b"\x2f\x00\x00\x00",  # element past it
        b"\xa0" + bytes(11) + b"\x00",  # no padding length
        b"\xa0" + bytes(11) + b"\x01\x02\x03\x09",  # padding longer than the packet
    ],
)
def test_a_malformed_packet_is_a_value_error_as_in_aiortc(data: bytes) -> None:
    mapping = extensions_map(mid=1, abs=2)
    with pytest.raises(ValueError):
        RtpPacket.parse(data, mapping)
    with pytest.raises(ValueError):
        receive_rtp.parse(data, ids_of(mapping))


def test_an_abs_send_time_of_the_wrong_length_is_dropped_not_a_struct_error() -> None:
    """aiortc raises struct.error here, which nothing on its path catches."""
    mapping = extensions_map(mid=1, abs=2)
    data = b"\x90" + bytes(11) + b"\xbe\xde\x00\x01" + b"\x21\x00\x00\x00"  # 2 bytes, not 3
    with pytest.raises(ValueError, match="abs-send-time"):
        receive_rtp.parse(data, ids_of(mapping))
