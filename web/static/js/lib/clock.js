// The server's clock on the page. Timers belong to the server: every answer of the API
// carries the server's ``now``; a deadline (an absolute server time) is shown as
// ``deadline - now`` counted from the moment the answer arrived, whatever this device's
// clock says.
//
//   const clock = new ServerClock();
//   clock.sync(page.now);                       // each API answer
//   remaining(clock.left(exam.closes_at))       // format.js words it
//   await clock.measure(() => api("GET", "/api/recording").then((r) => r.now))
//                                               // round trips: placed at their midpoint

const RTT_SAMPLES = 5;
const JUMP_S = 1;

/** The server's clock, as of the last API answer that carried its ``now``. */
export class ServerClock {
  constructor() {
    this.base = null;
    this.at = 0;
    this.samples = []; // the last round trips (syncRtt): {serverNow, at, rtt}
    this.rtt = null; // ms, of the sample in use
  }

  sync(now) {
    if (typeof now !== "number") return;
    // A measured round trip (syncRtt) is closer than an answer of unknown delay: such an
    // answer moves the clock only when it disagrees by more than a round trip could
    // explain (the server's clock was moved, or this device slept).
    if (this.samples.length && Math.abs(now - this.now()) < JUMP_S) return;
    this.samples = [];
    this.base = now;
    this.at = performance.now();
  }

  /**
   * A round trip that carried the server's ``now`` (seconds): sent and received at
   * ``performance.now()`` ms. The server's answer is placed at the midpoint; of the last
   * few samples the one with the shortest round trip sets the clock.
   */
  syncRtt(serverNow, sentAtPerfMs, receivedAtPerfMs) {
    if (typeof serverNow !== "number" || !(receivedAtPerfMs >= sentAtPerfMs)) return;
    const rtt = receivedAtPerfMs - sentAtPerfMs;
    this.samples = [...this.samples, { serverNow, at: sentAtPerfMs + rtt / 2, rtt }]
      .slice(-RTT_SAMPLES);
    const best = this.samples.reduce((a, b) => (b.rtt <= a.rtt ? b : a));
    this.base = best.serverNow;
    this.at = best.at;
    this.rtt = best.rtt;
  }

  /** ``rounds`` round trips of ``fetchNow`` (resolves to the server's ``now``), one at a
   * time; a failed one is skipped. */
  async measure(fetchNow, rounds = 3) {
    for (let i = 0; i < rounds; i += 1) {
      const sent = performance.now();
      try {
        const now = await fetchNow();
        this.syncRtt(now, sent, performance.now());
      } catch (err) {
        console.warn(err);
      }
    }
  }

  now() {
    if (this.base === null) return Date.now() / 1000;
    return this.base + (performance.now() - this.at) / 1000;
  }

  /** Seconds left until the server time ``when`` (negative once passed). */
  left(when) {
    return when - this.now();
  }
}
