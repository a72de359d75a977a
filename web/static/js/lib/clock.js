// The server's clock on the page. Timers belong to the server: every answer of the API
// carries the server's ``now``; a deadline (an absolute server time) is shown as
// ``deadline - now`` counted from the moment the answer arrived, whatever this device's
// clock says.
//
//   const clock = new ServerClock();
//   clock.sync(page.now);                       // each API answer
//   remaining(clock.left(exam.closes_at))       // format.js words it

/** The server's clock, as of the last API answer that carried its ``now``. */
export class ServerClock {
  constructor() {
    this.base = null;
    this.at = 0;
  }

  sync(now) {
    if (typeof now !== "number") return;
    this.base = now;
    this.at = performance.now();
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
