"""SRTP and SRTCP unprotected by libsrtp's own call, without pylibsrtp's wrapper per packet.

pylibsrtp 1.0's ``Session.unprotect`` checks the packet's type and size, allocates a C
``int`` for libsrtp's length argument (a cffi allocation for every packet), copies the
packet into the session's 1,500-byte buffer, calls libsrtp, checks its status in a Python
function (raising an exception for a replayed or forged packet) and copies the result out.
:class:`Unprotector` does the same on the same session and buffer with the length cell
made once, calls ``srtp_unprotect`` / ``srtp_unprotect_rtcp`` directly and answers None
for a packet libsrtp refuses (or one too large for the buffer), where the direct receive
path (:mod:`media.receive_path`) caught the exception to drop it.

Written for pylibsrtp 1.0 (its ``Session`` keeps ``_srtp``, ``_cdata`` and ``_buffer``):
:func:`check_compatible` names what moved.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp

SUPPORTED_PYLIBSRTP = "1.0"


class SrtpUnavailable(RuntimeError):
    """The installed pylibsrtp lacks what :class:`Unprotector` uses."""


def check_compatible() -> None:
    """Raise :class:`SrtpUnavailable` unless pylibsrtp has what :class:`Unprotector` uses."""
    version = getattr(pylibsrtp, "__version__", "?")
    if not version.startswith(SUPPORTED_PYLIBSRTP + "."):
        raise SrtpUnavailable(
            f"media.receive_srtp was written for pylibsrtp {SUPPORTED_PYLIBSRTP}.x, found "
            f"{version}: re-check Session's _srtp/_cdata/_buffer, then update "
            "SUPPORTED_PYLIBSRTP and the pin in pyproject.toml"
        )
    lib: Any = getattr(pylibsrtp, "lib", None)
    ffi: Any = getattr(pylibsrtp, "ffi", None)
    for name in ("srtp_unprotect", "srtp_unprotect_rtcp", "srtp_err_status_ok"):
        if not hasattr(lib, name):
            raise SrtpUnavailable(f"pylibsrtp {version}: its libsrtp binding has no {name}")
    if ffi is None or lib.srtp_err_status_ok != 0:
        raise SrtpUnavailable(f"pylibsrtp {version}: no ffi, or srtp_err_status_ok is not 0")
    session = pylibsrtp.Session()
    for name in ("_srtp", "_cdata", "_buffer"):
        if not hasattr(session, name):
            raise SrtpUnavailable(
                f"pylibsrtp {version}: Session has no {name} any more; "
                "media.receive_srtp must be rewritten"
            )


class Unprotector:
    """One pylibsrtp session's unprotect, by libsrtp's call (see the module)."""

    __slots__ = ("_buffer", "_cdata", "_ctx", "_length", "_rtcp", "_rtp", "_size", "session")

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.session = session  # kept alive (and told apart) by this
        state: Any = session
        self._ctx = state._srtp[0]
        self._cdata = state._cdata
        self._buffer = state._buffer
        self._size = len(state._buffer)
        self._length = pylibsrtp.ffi.new("int *")
        self._rtp = pylibsrtp.lib.srtp_unprotect
        self._rtcp = pylibsrtp.lib.srtp_unprotect_rtcp

    def rtp(self, data: bytes) -> bytes | None:
        """The RTP packet inside an SRTP one; None when libsrtp refuses it."""
        return self._unprotect(self._rtp, data)

    def rtcp(self, data: bytes) -> bytes | None:
        """The RTCP packet inside an SRTCP one; None when libsrtp refuses it."""
        return self._unprotect(self._rtcp, data)

    def _unprotect(self, call: Any, data: bytes) -> bytes | None:
        size = len(data)
        if size > self._size:
            return None
        buffer = self._buffer
        buffer[0:size] = data
        length = self._length
        length[0] = size
        if call(self._ctx, self._cdata, length):  # not srtp_err_status_ok
            return None
        return buffer[0 : length[0]]
