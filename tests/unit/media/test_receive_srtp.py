"""media/receive_srtp.py against pylibsrtp's own Session: the same packets out, and None
where pylibsrtp raises (replayed, forged, too large)."""

from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest

from media import receive_srtp
from media.receive_srtp import Unprotector

KEY = os.urandom(30)


def sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session, pylibsrtp.Session]:
    """A sender's session and two receivers' with its key (aiortc's profile)."""

    def one(direction: int) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(key=KEY, ssrc_type=direction)
        policy.allow_repeat_tx = True
        return pylibsrtp.Session(policy=policy)

    inbound = pylibsrtp.Policy.SSRC_ANY_INBOUND
    return one(pylibsrtp.Policy.SSRC_ANY_OUTBOUND), one(inbound), one(inbound)


def rtp(sequence: int, payload: bytes, ssrc: int = 1234) -> bytes:
    return struct.pack("!BBHLL", 0x80, 96, sequence, sequence * 3000, ssrc) + payload


def rtcp_receiver_report(ssrc: int = 1234) -> bytes:
    return struct.pack("!BBHL", 0x80, 201, 1, ssrc)


def test_installed_pylibsrtp_has_what_the_unprotector_uses() -> None:
    receive_srtp.check_compatible()


def test_another_pylibsrtp_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pylibsrtp, "__version__", "2.0.0")
    with pytest.raises(receive_srtp.SrtpUnavailable, match=r"pylibsrtp 1\.0\.x, found 2\.0\.0"):
        receive_srtp.check_compatible()


def test_a_session_without_its_buffer_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = pylibsrtp.Session.__init__

    def without_buffer(self: pylibsrtp.Session, *args: object) -> None:
        original(self, *args)  # type: ignore[arg-type]
        del self._buffer

    monkeypatch.setattr(pylibsrtp.Session, "__init__", without_buffer)
    with pytest.raises(receive_srtp.SrtpUnavailable, match="Session has no _buffer"):
        receive_srtp.check_compatible()


def test_the_same_packets_as_pylibsrtps_unprotect() -> None:
    sender, theirs, ours_session = sessions()
    ours = Unprotector(ours_session)
    for sequence in range(200):
        payload = os.urandom(sequence * 7 % 1200)
        protected = sender.protect(rtp(sequence, payload))
        assert ours.rtp(protected) == theirs.unprotect(protected) == rtp(sequence, payload)
        if sequence % 10 == 0:
            report = sender.protect_rtcp(rtcp_receiver_report())
            assert ours.rtcp(report) == theirs.unprotect_rtcp(report) == rtcp_receiver_report()


def test_what_pylibsrtp_refuses_is_none() -> None:
    sender, theirs, ours_session = sessions()
    ours = Unprotector(ours_session)
    first = sender.protect(rtp(1, b"picture"))
    assert ours.rtp(first) is not None and theirs.unprotect(first) is not None
    cases = {
        "replayed": first,
        "forged": (lambda p: p[:-1] + bytes([p[-1] ^ 1]))(sender.protect(rtp(2, b"x" * 50))),
        "too large": sender.protect(rtp(3, b"y" * 1000)) + b"z" * 600,
        "rtcp replayed": (lambda r: (ours.rtcp(r), theirs.unprotect_rtcp(r), r)[2])(
            sender.protect_rtcp(rtcp_receiver_report())
        ),
    }
    for name, packet in cases.items():
        unprotect = ours.rtcp if name.startswith("rtcp") else ours.rtp
        assert unprotect(packet) is None, name
        with pytest.raises((pylibsrtp.Error, ValueError)):
            (theirs.unprotect_rtcp if name.startswith("rtcp") else theirs.unprotect)(packet)
    # and the session goes on: the next packet is unprotected
    good = sender.protect(rtp(4, b"next"))
    assert ours.rtp(good) == rtp(4, b"next")
