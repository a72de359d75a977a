"""Answering offers: a bad one is refused in plain words and its peer is let go of."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from exams.shared.errors import InvalidInput
from media.peers import PeerFactory
from tests.support.media import SyntheticAudio, SyntheticVideo


async def browser_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    pc.addTransceiver(SyntheticAudio(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


def ignore(sources: object) -> None:
    pass


async def offer_with_preview() -> tuple[str, str]:
    """An offer of a camera, a microphone and the camera's preview; the preview's mid."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    pc.addTransceiver(SyntheticAudio(), direction="sendonly")
    small = pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    assert small.mid is not None
    return sdp, small.mid


async def test_a_preview_section_is_taken_only_when_the_offer_names_it() -> None:
    offer, mid = await offer_with_preview()
    kinds = [kind for kind, _ in PeerFactory().check_offer(offer, mid)]
    assert kinds == ["video", "audio", "video"]  # in the offer's order
    with pytest.raises(InvalidInput, match="one video track, not more"):
        PeerFactory().check_offer(offer)  # two cameras' worth, unnamed
    with pytest.raises(InvalidInput, match="no video section with a=mid:9"):
        PeerFactory().check_offer(offer, "9")
    with pytest.raises(InvalidInput, match="no video section with a=mid:1"):
        PeerFactory().check_offer(offer, "1")  # the microphone's
    with pytest.raises(InvalidInput, match="must follow the camera's video"):
        PeerFactory().check_offer(offer, "0")  # the camera's own section
    unbundled = "\r\n".join(x for x in offer.split("\r\n") if not x.startswith("a=group:"))
    with pytest.raises(InvalidInput, match="must bundle every section"):
        PeerFactory().check_offer(unbundled, mid)
    camera_only = await browser_offer()
    with pytest.raises(InvalidInput, match="no video section with a=mid:2"):
        PeerFactory().check_offer(camera_only, "2")


@pytest.mark.parametrize(
    "edit,words",
    [
        (("a=mid:0", "a=mid:5"), "BUNDLE group"),
        (("a=group:BUNDLE 0 1", "a=group:BUNDLE 7 0 1"), "BUNDLE group"),
        (("a=mid:1", "a=mid:0"), "same a=mid"),
        (("a=fingerprint:", "a=x-fingerprint:"), "DTLS fingerprint"),
    ],
)
async def test_an_offer_bundling_onto_a_missing_section_is_refused_before_aiortc(
    edit: tuple[str, str], words: str
) -> None:
    offer = (await browser_offer()).replace(*edit)
    with pytest.raises(InvalidInput, match=words):
        PeerFactory().check_offer(offer)


class Unchecked(PeerFactory):
    """Hands aiortc what check_offer would refuse: its failure, and its close's."""

    def check_offer(
        self, offer_sdp: str, preview_mid: str | None = None
    ) -> list[tuple[str, list[str]]]:
        return [("video", ["video/VP8"]), ("audio", ["audio/opus"])]


@pytest.mark.parametrize(
    "edit",
    [
        ("a=mid:0", "a=mid:5"),  # aiortc fails, then pc.close() raises AttributeError too
        ("a=ice-pwd:", "a=x-ice-pwd:"),  # aiortc refuses it with a ValueError
    ],
)
async def test_a_failed_negotiation_is_invalid_input_without_aiortcs_words(
    edit: tuple[str, str],
) -> None:
    offer = (await browser_offer()).replace(*edit)
    with pytest.raises(InvalidInput) as refused:
        await Unchecked().answer(offer, "peer", ignore)
    message = refused.value.message
    assert message == "the SDP offer could not be negotiated; send the offer your browser made"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


async def test_an_unparsable_offer_is_refused_in_plain_words() -> None:
    with pytest.raises(InvalidInput) as refused:
        PeerFactory().check_offer("v=0\r\nm=video x\r\n")
    assert "Error" not in refused.value.message and "could not be parsed" in refused.value.message
