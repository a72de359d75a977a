from media.sdp import with_start_bitrate

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
