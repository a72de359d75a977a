"""The receive path's bandwidth estimate gives aiortc's own figures and REMBs, packet for
packet, on the traffic a camera sends: steady, bursty, draining, after a pause; under
congestion the same until the first reduction, then reductions at libwebrtc's pace
instead of a REMB for every packet."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc.rate import (
    INTER_ARRIVAL_SHIFT,
    TIMESTAMP_GROUP_LENGTH_MS,
    TIMESTAMP_TO_MS,
    BandwidthUsage,
    InterArrival,
    RateCounter,
    RemoteBitrateEstimator,
)

from media.receive_rate import (
    MAX_REDUCTION_INTERVAL_MS,
    REDUCE_AT_ONCE_BELOW,
    Estimator,
    PacketRate,
    SendGroups,
)

SSRC = 0x1234


def camera(
    seed: int,
    seconds: float,
    kbps: int = 1000,
    queue_ms_per_s: float = 0.0,
    pause_at: float | None = None,
    reorder: float = 0.0,
    stalls: bool = False,
) -> Iterator[tuple[int, int, int]]:
    """(arrival ms, abs-send-time, payload bytes) of a 30 fps camera whose packets are
    paced out a millisecond apart; ``queue_ms_per_s``: a bottleneck queue that grows
    (positive) or drains (negative); ``pause_at``: 1.5 s of nothing there; ``reorder``:
    the share of packets that arrive after the next one (a retransmission, a second
    path); ``stalls``: every 40th frame the link holds everything for 150-300 ms, then
    delivers what it held one packet after another (Wi-Fi): frames arrive in bursts."""
    rnd = random.Random(seed)
    held: tuple[int, int, int] | None = None
    link_ms = 0.0  # when the link delivers its next packet, at the soonest
    send_ms, queue_ms, start = 1000.0, 0.0, 1_700_000_000_000
    frame = 0
    while send_ms < 1000.0 + seconds * 1000:
        if pause_at is not None and frame == int(pause_at * 30):
            send_ms += 1500
        size = int(kbps * 1000 / 8 / 30 * (4 if frame % 75 == 0 else rnd.uniform(0.6, 1.3)))
        for i in range((size + 1099) // 1100):
            sent = send_ms + i * 1.0
            queue_ms = max(0.0, queue_ms + queue_ms_per_s / 1000 * 1.0)
            arrives = sent + 20 + queue_ms + rnd.uniform(0, 3)
            if stalls:
                if frame % 40 == 0 and i == 0:
                    link_ms = arrives + rnd.uniform(150, 300)
                arrives = max(arrives, link_ms)
                link_ms = arrives + rnd.uniform(0.2, 6.5)
            arrival = start + int(arrives)
            abs_send_time = int(sent / 1000 * (1 << 18)) & 0xFFFFFF  # 6.18 fixed point
            packet = (arrival, abs_send_time, min(1100, size - i * 1100) + 12)
            if held is None and rnd.random() < reorder:
                held = packet
                continue
            yield packet
            if held is not None:
                yield (arrival, *held[1:])
                held = None
        send_ms += 1000 / 30
        frame += 1


def figures(estimator: RemoteBitrateEstimator) -> tuple[Any, ...]:
    return (
        estimator.incoming_bitrate.rate(estimator.last_update_ms or 0),
        estimator.detector.state(),
        estimator.estimator.offset(),
        estimator.estimator.var_noise,
        estimator.rate_control.current_bitrate,
        estimator.rate_control.state,
        list(estimator.estimator.ts_delta_hist),
    )


TRACES = [
    pytest.param(dict(seed=1, seconds=20), id="steady"),
    pytest.param(dict(seed=2, seconds=20, kbps=2500), id="high-rate"),
    pytest.param(dict(seed=4, seconds=20, queue_ms_per_s=-20), id="draining"),
    pytest.param(dict(seed=5, seconds=20, pause_at=6.0), id="paused"),
    pytest.param(dict(seed=6, seconds=70), id="abs-send-time-wraps"),
    pytest.param(dict(seed=7, seconds=20, reorder=0.05), id="reordered"),
    pytest.param(dict(seed=8, seconds=20, reorder=0.3, kbps=2500), id="much-reordered"),
]


@pytest.mark.parametrize(
    "trace",
    [
        *TRACES,
        # Bursts after stalls are taken for overuse: aiortc's REMBs then differ (below).
        pytest.param(dict(seed=9, seconds=20, stalls=True), id="stalls"),
        pytest.param(dict(seed=3, seconds=20, queue_ms_per_s=40), id="congested"),
    ],
)
def test_the_send_time_groups_are_aiortcs(trace: dict[str, Any]) -> None:
    theirs = InterArrival(
        (TIMESTAMP_GROUP_LENGTH_MS << INTER_ARRIVAL_SHIFT) // 1000, TIMESTAMP_TO_MS
    )
    ours = SendGroups()
    closed = bursts = 0
    for arrival, abs_send_time, size in camera(**trace):
        timestamp = abs_send_time << 8
        current = theirs.current_group
        expected = theirs.compute_deltas(timestamp, arrival, size)
        deltas = ours.add(timestamp & 0xFFFFFFFF, arrival, size)
        if expected is None:
            assert deltas is None
        else:
            closed += 1
            assert deltas == (expected.timestamp, expected.arrival_time, expected.size)
        if current is not None and theirs.current_group is current:
            bursts += timestamp - (current.first_timestamp or 0) > theirs.group_length
    assert closed > 30 * trace["seconds"] * 0.9  # about a group a frame
    if trace.get("stalls"):
        assert bursts > 0  # frames that came in a burst were taken as one group


@pytest.mark.parametrize("trace", TRACES)
def test_every_remb_and_figure_is_aiortcs(trace: dict[str, Any]) -> None:
    theirs, ours = RemoteBitrateEstimator(), Estimator()
    rembs = 0
    for arrival, abs_send_time, size in camera(**trace):
        args = dict(
            arrival_time_ms=arrival, abs_send_time=abs_send_time, payload_size=size, ssrc=SSRC
        )
        expected = theirs.add(**args)
        assert ours.add(**args) == expected
        rembs += expected is not None
        assert figures(ours) == figures(theirs)
    assert rembs > 5
    assert theirs.detector.state() != BandwidthUsage.OVERUSING  # (the congested test's case)


def test_a_congested_link_is_reduced_at_libwebrtcs_pace_not_on_every_packet() -> None:
    theirs, ours = RemoteBitrateEstimator(), Estimator()
    before: list[tuple[int, int]] = []  # (arrival, bitrate) until aiortc first overuses
    theirs_after: list[tuple[int, int]] = []
    ours_after: list[tuple[int, int]] = []
    overusing = False
    for arrival, abs_send_time, size in camera(seed=3, seconds=20, queue_ms_per_s=40):
        args = dict(
            arrival_time_ms=arrival, abs_send_time=abs_send_time, payload_size=size, ssrc=SSRC
        )
        expected, got = theirs.add(**args), ours.add(**args)
        if not overusing:
            overusing = theirs.detector.state() == BandwidthUsage.OVERUSING
        if not overusing:  # the same figures and REMBs until the link first congests
            assert got == expected and figures(ours) == figures(theirs)
            if expected is not None:
                before.append((arrival, expected[0]))
            continue
        if expected is not None:
            theirs_after.append((arrival, expected[0]))
        if got is not None:
            ours_after.append((arrival, got[0]))
            if len(ours_after) > 1 and ours.detector.state() == BandwidthUsage.OVERUSING:
                gap = arrival - ours_after[-2][0]
                rate = ours.incoming_bitrate.rate(arrival)
                assert gap >= MAX_REDUCTION_INTERVAL_MS or (
                    rate is not None and rate < REDUCE_AT_ONCE_BELOW * ours_after[-2][1]
                ), (gap, rate)
    assert overusing and before and theirs_after and ours_after, "the link never congested"
    # the first reduction: at most one reduction interval after aiortc's, to the same rate
    assert ours_after[0][0] - theirs_after[0][0] <= MAX_REDUCTION_INTERVAL_MS
    assert ours_after[0][1] < before[-1][1]
    # aiortc sent a REMB for every packet while overusing; ours a few a second
    assert len(theirs_after) > 5 * len(ours_after) > 0
    seconds = (ours_after[-1][0] - ours_after[0][0]) / 1000
    assert len(ours_after) / seconds < 1000 / MAX_REDUCTION_INTERVAL_MS + 2
    # ... and the sender is told the same: the estimate ends within 5% of aiortc's
    assert ours_after[-1][1] == pytest.approx(theirs_after[-1][1], rel=0.05)
    assert max(rate for _, rate in ours_after) < before[-1][1]  # never back above


def test_the_rate_is_aiortcs_at_every_millisecond() -> None:
    theirs, ours = RateCounter(1000, 8000), PacketRate(1000, 8000)
    rnd = random.Random(7)
    now = 5000
    for _ in range(20000):
        now += rnd.choice((0, 0, 1, 2, 5, 30, 400, 1200, -1, -3))  # jitter steps back
        if rnd.random() < 0.7:
            size = rnd.randrange(50, 1200)
            theirs.add(size, now)
            ours.add(size, now)
        assert ours.counting(now) == (theirs.rate(now) is not None)  # (the rate's own steps)
        assert ours.rate(now) == theirs.rate(now)
        if rnd.random() < 0.001:
            theirs.reset()
            ours.reset()
