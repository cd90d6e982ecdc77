//! TCP slow start on the answers a server sends on its connections, as pure state: how many
//! round trips an answer's bytes need, from the connection's congestion window.
//!
//! - The initial window is 10 segments (RFC 6928, <https://www.rfc-editor.org/rfc/rfc6928>;
//!   Linux's `TCP_INIT_CWND`).
//! - In slow start each acknowledged segment grows the window by one (RFC 5681,
//!   <https://www.rfc-editor.org/rfc/rfc5681>, with Linux's byte counting): a full window
//!   doubles each round trip. An answer of `n` segments leaves in flights of `w`, `2w`, `4w`
//!   ... segments, one round trip apart, so it arrives `(flights - 1) x RTT` later than one
//!   that fits the window: at MSS 1,448 (MTU 1500) 14,480 bytes go in one flight, 43,440 in
//!   two, 101,360 in three; at MSS 8,949 (MTU 9001) 89,490 in one.
//! - No loss: the window never shrinks but after idle, and slow start never ends (no
//!   `ssthresh` is reached without loss).
//! - Ours: the window an answer leaves behind is its start plus the answer's segments (each
//!   acknowledged), but not more than twice the answer's segments, and never less than it was.
//!   Linux grows the window in slow start only while it is below twice the packets in flight
//!   (`tcp_is_cwnd_limited`, "ensure cwnd grows to twice what was ACKed"), and an answer never
//!   has more than its own segments in flight; so a connection carrying small answers stays
//!   at 10 segments instead of growing without bound. Real TCP is clocked by each ACK, not by
//!   whole flights; the flights here are its round-trip outline.
//! - Slow start after idle (`net.ipv4.tcp_slow_start_after_idle` = 1 by default,
//!   <https://docs.kernel.org/networking/ip-sysctl.html>): a connection that sent nothing for
//!   longer than its retransmission timeout starts again from the initial window. Linux
//!   halves the window per RTO idle, down to the initial window (RFC 2861,
//!   <https://www.rfc-editor.org/rfc/rfc2861>); ours resets it to 10 at once. The RTO is 200 ms
//!   (Linux's `TCP_RTO_MIN`) plus the connection's RTT, what Linux's estimate comes to on a
//!   steady path.
//! - The RTT is the one the server measures on the handshake: from the SYN's arrival to the
//!   arrival of the first request, which rides with the ACK (Linux smooths later samples; a
//!   path's latency here is fixed or sampled per message, so one sample stands for it).

use azsim_kernel::Nanos;

/// The initial congestion window, in segments (RFC 6928; Linux `TCP_INIT_CWND`).
pub const INITIAL_WINDOW: u64 = 10;
/// Linux's minimum retransmission timeout (`TCP_RTO_MIN`, 200 ms).
pub const RTO_MIN: Nanos = 200_000_000;

/// What slow start makes of one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flights {
    /// Round trips' worth of flights the answer needs (at least one).
    pub flights: u64,
    /// The window after the answer is acknowledged.
    pub window_after: u64,
}

/// The flights `segments` need from a window of `window` segments, and the window after.
pub fn flights(segments: u64, window: u64) -> Flights {
    let (mut remaining, mut w, mut flights) = (segments.max(1), window.max(1), 0);
    while remaining > 0 {
        flights += 1;
        remaining -= remaining.min(w);
        w = w.saturating_mul(2);
    }
    let window_after = window.max(window.saturating_add(segments).min(segments.saturating_mul(2)));
    Flights { flights, window_after }
}

/// A server's sending side of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendWindow {
    /// When the SYN arrived (the SYN-ACK left).
    syn_at: Nanos,
    /// The round trip measured on the handshake, once the first request came.
    rtt: Option<Nanos>,
    window: u64,
    /// When the last flight of the last answer left.
    last_sent: Option<Nanos>,
}

impl SendWindow {
    /// A connection whose SYN arrived at `syn_at`: the initial window, nothing sent yet.
    pub fn new(syn_at: Nanos) -> SendWindow {
        SendWindow { syn_at, rtt: None, window: INITIAL_WINDOW, last_sent: None }
    }

    /// A request arrived at `now`: the first one (with the handshake's ACK) measures the RTT.
    pub fn request(&mut self, now: Nanos) {
        if self.rtt.is_none() {
            self.rtt = Some(now - self.syn_at);
        }
    }

    /// The handshake's round trip (zero until the first request came).
    pub fn rtt(&self) -> Nanos {
        self.rtt.unwrap_or(0)
    }

    /// The retransmission timeout: 200 ms plus the RTT (at least `RTO_MIN`).
    pub fn rto(&self) -> Nanos {
        RTO_MIN + self.rtt()
    }

    /// The window in segments now.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// An answer of `segments` starts at `now`: the window restarts if the connection sat idle
    /// longer than its RTO; returns how long after `now` its last flight leaves.
    pub fn send(&mut self, now: Nanos, segments: u64) -> Nanos {
        if self.last_sent.is_some_and(|at| now.saturating_sub(at) > self.rto()) {
            self.window = INITIAL_WINDOW;
        }
        let f = flights(segments, self.window);
        self.window = f.window_after;
        let delay = (f.flights - 1) * self.rtt();
        self.last_sent = Some(now + delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azsim_kernel::wire::{MTU_OUTSIDE, MTU_VPC, mss};

    #[test]
    fn flights_double_from_ten_segments() {
        // At MSS 1,448: 10 segments in one flight, 10 + 20 in two, 10 + 20 + 40 in three.
        assert_eq!(mss(MTU_OUTSIDE) * 10, 14_480);
        let cases = [(1, 1), (10, 1), (11, 2), (30, 2), (31, 3), (70, 3), (71, 4)];
        for (segments, expected) in cases {
            assert_eq!(flights(segments, INITIAL_WINDOW).flights, expected, "{segments} segments");
        }
        assert_eq!(mss(MTU_OUTSIDE) * 30, 43_440);
        assert_eq!(mss(MTU_OUTSIDE) * 70, 101_360);
        assert_eq!(mss(MTU_VPC) * 10, 89_490);
    }

    #[test]
    fn the_window_grows_by_what_was_acknowledged_up_to_twice_the_answer() {
        // 46 segments: 10 + 20 + 16; the window ends at 10 + 46 = 56 (below 2 x 46).
        assert_eq!(flights(46, 10), Flights { flights: 3, window_after: 56 });
        // One segment: the window does not grow (it is not the limit).
        assert_eq!(flights(1, 10), Flights { flights: 1, window_after: 10 });
        // A large window stays.
        assert_eq!(flights(46, 100), Flights { flights: 1, window_after: 100 });
    }

    #[test]
    fn an_idle_connection_restarts_from_the_initial_window() {
        let rtt = 2_000_000;
        let mut w = SendWindow::new(0);
        w.request(rtt);
        assert_eq!(w.rto(), RTO_MIN + rtt);
        assert_eq!(w.send(rtt, 46), 2 * rtt);
        assert_eq!(w.window(), 56);
        // Within the RTO of the last flight: one flight.
        let last = 3 * rtt;
        assert_eq!(w.send(last + w.rto(), 46), 0);
        // Idle longer than the RTO: three flights again.
        assert_eq!(w.send(last + 2 * w.rto() + 1, 46), 2 * rtt);
    }
}
