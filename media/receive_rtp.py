"""An RTP packet read for the receive path: the header and only the extensions it uses.

aiortc's ``RtpPacket.parse`` slices the header and the extension block into new
bytes, builds a list of every extension element, decodes each one it knows (the
MID and RIDs as text, the transmission offset, the transport-wide sequence
number) into a new ``HeaderExtensions`` and only then the packet. Of those, a
receiver reads two: abs-send-time (the bandwidth estimate, video) and the audio
level (RFC 6464, our level note). Everything else about the packet (the fixed
header, CSRCs, padding, payload) is read the same way, into the same
``RtpPacket`` class, so the rest of aiortc's path cannot tell the difference;
the extensions it does not read stay None. MID and RIDs are not used for routing
received packets in aiortc 1.16 (``RtpRouter.route_rtp`` goes by SSRC and payload
type).

One difference on purpose: an abs-send-time or audio-level element of the wrong
length makes the packet malformed (ValueError, dropped), where aiortc's parse
raised ``struct.error``, which nothing catches on its path.
"""

from __future__ import annotations

import struct

from aiortc.rtp import HeaderExtensions, RtpPacket

_HEADER = struct.Struct("!BBHLL")
_EXTENSION = struct.Struct("!HH")
_ONE_BYTE, _TWO_BYTE = 0xBEDE, 0x1000
_new = object.__new__


def parse(data: bytes, ids: HeaderExtensions) -> RtpPacket:
    """``data`` (an unprotected RTP packet) as an ``RtpPacket``; ``ids`` are the header
    extension ids the transport negotiated. ValueError if it is malformed."""
    size = len(data)
    if size < 12:
        raise ValueError("RTP packet length is less than 12 bytes")
    first, m_pt, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    cc = first & 0x0F
    pos = 12 + 4 * cc
    if size < pos:
        raise ValueError("RTP packet has truncated CSRC")
    packet: RtpPacket = _new(RtpPacket)
    packet.version = 2
    packet.marker = m_pt >> 7
    packet.payload_type = m_pt & 0x7F
    packet.sequence_number = sequence_number
    packet.timestamp = timestamp
    packet.ssrc = ssrc
    packet.csrc = list(struct.unpack_from(f"!{cc}L", data, 12)) if cc else []
    # every field reads as None (the dataclass's class defaults) until set below
    extensions: HeaderExtensions = _new(HeaderExtensions)
    packet.extensions = extensions
    if first & 0x10:
        if size < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, length = _EXTENSION.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * length
        if size < end:
            raise ValueError("RTP packet has truncated extension value")
        if profile == _ONE_BYTE or profile == _TWO_BYTE:
            _read_extensions(data, pos, end, profile == _TWO_BYTE, ids, extensions)
        pos = end
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - pos:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[pos:-padding]
    else:
        packet.padding_size = 0
        packet.payload = data[pos:]
    return packet


def _read_extensions(
    data: bytes, pos: int, end: int, two_byte: bool, ids: HeaderExtensions, into: HeaderExtensions
) -> None:
    """RFC 8285 elements between ``pos`` and ``end``; only the two the path reads are kept."""
    abs_send_time, audio_level = ids.abs_send_time, ids.audio_level
    while pos < end:
        byte = data[pos]
        if byte == 0:  # padding
            pos += 1
            continue
        if two_byte:
            if end < pos + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            x_id, x_length = byte, data[pos + 1]
            pos += 2
        else:
            x_id, x_length = byte >> 4, (byte & 0x0F) + 1
            pos += 1
        if end < pos + x_length:
            raise ValueError("RTP header extension value is truncated")
        if x_id == abs_send_time:
            if x_length != 3:
                raise ValueError("RTP abs-send-time extension is not 3 bytes")
            into.abs_send_time = int.from_bytes(data[pos : pos + 3], "big")
        elif x_id == audio_level:
            if x_length != 1:
                raise ValueError("RTP audio level extension is not 1 byte")
            level = data[pos]
            into.audio_level = (level & 0x80 == 0x80, level & 0x7F)
        pos += x_length
