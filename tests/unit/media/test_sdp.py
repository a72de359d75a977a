import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from exams.catalog.media_profile import MediaProfile
from media.peers import PeerFactory
from media.sdp import tuned, with_opus, with_ptime, with_start_bitrate, with_video_bitrates
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.unit.media.test_peers import ignore

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98 99",
        "a=rtpmap:97 VP8/90000",
        "a=rtpmap:98 rtx/90000",
        "a=fmtp:98 apt=97",
        "a=rtpmap:99 H264/90000",
        "a=fmtp:99 packetization-mode=1;profile-level-id=42e01f",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 useinbandfec=1",
        "",
    ]
)


def test_start_bitrate_goes_on_every_video_codec_only() -> None:
    out = with_start_bitrate(ANSWER, 1500).split("\r\n")
    assert "a=fmtp:97 x-google-start-bitrate=1500" in out
    assert (
        "a=fmtp:99 packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=1500" in out
    )
    assert "a=fmtp:98 apt=97" in out  # rtx is not a video codec of its own
    assert "a=fmtp:96 useinbandfec=1" in out
    assert (
        out.index("a=fmtp:97 x-google-start-bitrate=1500") == out.index("a=rtpmap:97 VP8/90000") + 1
    )


def test_zero_leaves_the_answer_alone() -> None:
    assert with_start_bitrate(ANSWER, 0) == ANSWER


# -- the exam's sound and picture (issue #18) --------------------------------------------------


def fmtp_of(sdp: str, codec: str) -> dict[str, str]:
    """The a=fmtp parameters of the first codec named ``codec`` (e.g. "opus")."""
    lines = sdp.split("\r\n")
    pt = next(
        line.split()[0].split(":")[1]
        for line in lines
        if line.lower().startswith("a=rtpmap:") and f" {codec.lower()}/" in line.lower()
    )
    fmtp = [line for line in lines if line.startswith(f"a=fmtp:{pt} ")]
    assert len(fmtp) == 1, fmtp
    return dict(p.split("=", 1) for p in fmtp[0].split(" ", 1)[1].split(";"))


def test_opus_parameters_merge_into_an_existing_fmtp_line() -> None:
    out = with_opus(ANSWER, {"stereo": "1", "useinbandfec": "0"})
    assert "a=fmtp:96 useinbandfec=0;stereo=1" in out.split("\r\n")
    assert with_opus(ANSWER, {}) == ANSWER


def test_opus_gets_an_fmtp_line_after_its_rtpmap_when_it_has_none() -> None:
    bare = ANSWER.replace("a=fmtp:96 useinbandfec=1\r\n", "")
    out = with_opus(bare, {"stereo": "1"}).split("\r\n")
    assert out[out.index("a=rtpmap:96 opus/48000/2") + 1] == "a=fmtp:96 stereo=1"


def test_video_gets_a_start_and_a_minimum_bitrate() -> None:
    out = with_video_bitrates(ANSWER, 1500, 400)
    assert fmtp_of(out, "VP8") == {"x-google-start-bitrate": "1500", "x-google-min-bitrate": "400"}
    assert fmtp_of(out, "opus") == {"useinbandfec": "1"}


def test_the_music_profile_asks_for_stereo_full_band_at_the_exams_bitrate() -> None:
    music = MediaProfile(audio="music", audio_kbps=256)
    assert fmtp_of(tuned(ANSWER, music, 1500), "opus") == {
        "useinbandfec": "1",
        "stereo": "1",
        "maxplaybackrate": "48000",
        "maxaveragebitrate": "256000",
        "usedtx": "0",
    }
    voice = MediaProfile(audio="voice", audio_kbps=32)
    assert fmtp_of(tuned(ANSWER, voice, 1500), "opus") == {"useinbandfec": "1"}


def audio_section(sdp: str) -> list[str]:
    lines = sdp.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("m=audio "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    return lines[start:end]


def test_ptime_goes_in_the_audio_section_only_once() -> None:
    out = with_ptime(ANSWER, 40)
    assert audio_section(out)[-2:] == ["a=ptime:40", ""]  # the last section: before its end
    assert out.count("a=ptime:") == 1
    assert with_ptime(out, 60).count("a=ptime:") == 1 and "a=ptime:60" in with_ptime(out, 60)
    assert with_ptime(ANSWER, None) == ANSWER
    # audio first, then video: at the end of the audio section, not the video's
    audio_first = "\r\n".join(
        ["v=0", "m=audio 9 X 96", "a=rtpmap:96 opus/48000/2", "m=video 9 X 97", "a=x", ""]
    )
    assert with_ptime(audio_first, 40).split("\r\n")[3] == "a=ptime:40"
    assert audio_section(with_ptime(audio_first, 40))[-1] == "a=ptime:40"


@pytest.mark.parametrize("audio,stereo", [("music", "1"), ("voice", None)])
async def test_a_real_aiortc_offer_is_answered_with_the_profiles_opus_fmtp(
    audio: str, stereo: str | None
) -> None:
    """The whole path: aiortc's own answer (no Opus fmtp) tuned, then accepted by the
    offerer (a browser's encoder reads these parameters from the answer)."""
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client.addTransceiver(SyntheticVideo(), direction="sendonly")
    client.addTransceiver(SyntheticAudio(), direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    profile = MediaProfile(audio=audio, audio_kbps=192, video="480p")
    server, answer = await PeerFactory().answer(
        client.localDescription.sdp, "peer-q", ignore, profile
    )
    try:
        opus = fmtp_of(answer, "opus")
        assert opus.get("stereo") == stereo
        assert opus["useinbandfec"] == "1"
        if audio == "music":
            assert opus["maxaveragebitrate"] == "192000"
            assert opus["maxplaybackrate"] == "48000" and opus["usedtx"] == "0"
        assert fmtp_of(answer, "VP8")["x-google-min-bitrate"] == "100"  # 480p's floor
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        # as an offerer's SDP parser reads it
        section = next(
            m for m in aiortc_sdp.SessionDescription.parse(answer).media if m.kind == "audio"
        )
        assert section.rtp.codecs[0].parameters.get("stereo") == (1 if stereo else None)
        # 40 ms packets asked of voice; music at 192 kbit/s would not fit them in a packet
        assert ("a=ptime:40" in audio_section(answer)) == (audio == "voice")
    finally:
        await client.close()
        await server.close()


async def test_the_previews_section_carries_the_cameras_bitrate_floor() -> None:
    """A camera's preview (media.preview) gets the camera's start and minimum bitrates too:
    Chromium takes its call's from the video section it configures last."""
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client.addTransceiver(SyntheticAudio(), direction="sendonly")
    client.addTransceiver(SyntheticVideo(), direction="sendonly")
    small = client.addTransceiver(SyntheticVideo(), direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    sources: list[object] = []
    server, answer = await PeerFactory(start_bitrate_kbps=1500).answer(
        client.localDescription.sdp, "peer-p", sources.extend, MediaProfile(), small.mid
    )
    try:
        camera, preview = (
            m for m in aiortc_sdp.SessionDescription.parse(answer).media if m.kind == "video"
        )
        assert preview.rtp.muxId == small.mid
        for section in (camera, preview):
            vp8 = next(c for c in section.rtp.codecs if c.mimeType == "video/VP8").parameters
            assert str(vp8["x-google-start-bitrate"]) == "1500", section.rtp.muxId
            assert str(vp8["x-google-min-bitrate"]) == str(MediaProfile().target.min_kbps)
        # the server's sources: the camera's tracks, and the preview marked as such
        assert sorted((s.kind, s.preview) for s in sources) == [  # type: ignore[attr-defined]
            ("audio", False),
            ("video", False),
            ("video", True),
        ]
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    finally:
        await client.close()
        await server.close()
