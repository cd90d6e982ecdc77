//! Why a call failed. One rule: a call whose last attempt failed ends in an [`Error`] that
//! carries that attempt's answer (the response, the transport's error, or the timeout), with
//! the attempt count and why no further attempt was made ([`GaveUp`]). `Ok` is only ever a
//! response the policy called a success.

use crate::balancer::FailureKind;

/// Why the client made no further attempt after a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaveUp {
    /// It had made `retry.max_attempts`.
    Attempts,
    /// The policy says this failure is not worth another attempt (e.g. a 501), or the inner
    /// service failed before any attempt (its `poll_ready`).
    NotRetryable,
    /// The request may not, or cannot, be sent twice (`Policy::clone_request` gave `None`: not
    /// idempotent, or a body read once).
    NotReplayable,
    /// The deadline has passed, or would have before the next attempt could start (backoff
    /// or `Retry-After` included).
    Deadline,
    /// A retry was due and the retry budget refused it.
    Budget,
    /// A retry was due and no endpoint could take it (every breaker open with panic off, or
    /// discovery emptied the list).
    Unavailable,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GaveUp::Attempts => "no attempts left",
            GaveUp::NotRetryable => "not worth another attempt",
            GaveUp::NotReplayable => "the request may not be sent twice",
            GaveUp::Deadline => "the deadline leaves no time for another attempt",
            GaveUp::Budget => "the retry budget is spent",
            GaveUp::Unavailable => "no endpoint could take a retry",
        })
    }
}

/// Why a call failed: `E` is the inner service's error, `Resp` its response.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E, Resp> {
    /// Discovery has found nothing (yet): no attempt was made.
    NoEndpoints,
    /// Every zone (or endpoint) that could take it has its breaker open, and panic is off
    /// (`panic_threshold` 0): no attempt was made. With panic on, such a call goes out as a
    /// probe instead (see [`ZoneConfig`](crate::ZoneConfig)).
    CircuitOpen,
    /// The last attempt was answered with a failure (`kind`, e.g. `Status(503)` or
    /// `Throttled(429)`): here is the answer (boxed, so the error stays small in a `Result`).
    Failed { attempts: u32, kind: FailureKind, gave_up: GaveUp, response: Box<Resp> },
    /// The last attempt timed out (its per-try timeout or the deadline).
    Timeout { attempts: u32, gave_up: GaveUp },
    /// The last attempt failed in the inner service: no connection ([`FailureKind::Connect`])
    /// or a broken one ([`FailureKind::Reset`]). `attempts` is 0 if it failed getting ready.
    Transport { attempts: u32, kind: FailureKind, gave_up: GaveUp, error: E },
}

impl<E, Resp> Error<E, Resp> {
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Error::CircuitOpen)
    }
    pub fn is_no_endpoints(&self) -> bool {
        matches!(self, Error::NoEndpoints)
    }
    /// No connection could be made on the last attempt.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Transport { kind: FailureKind::Connect, .. })
    }
    /// The last attempt's connection broke.
    pub fn is_reset(&self) -> bool {
        matches!(self, Error::Transport { kind: FailureKind::Reset, .. })
    }
    /// The last attempt was throttled (429).
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::Failed { kind: FailureKind::Throttled(_), .. })
    }
    /// A retry was due and the budget refused it.
    pub fn is_budget_exhausted(&self) -> bool {
        self.gave_up() == Some(GaveUp::Budget)
    }

    /// Why no further attempt was made (`None`: none was made at all).
    pub fn gave_up(&self) -> Option<GaveUp> {
        match self {
            Error::Failed { gave_up, .. } | Error::Timeout { gave_up, .. } | Error::Transport { gave_up, .. } => Some(*gave_up),
            Error::NoEndpoints | Error::CircuitOpen => None,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Failed { attempts, .. } | Error::Timeout { attempts, .. } | Error::Transport { attempts, .. } => *attempts,
            Error::NoEndpoints | Error::CircuitOpen => 0,
        }
    }

    /// The last attempt's failing answer, if it was answered.
    pub fn response(&self) -> Option<&Resp> {
        match self {
            Error::Failed { response, .. } => Some(response),
            _ => None,
        }
    }

    /// The last attempt's failing answer, if it was answered.
    pub fn into_response(self) -> Option<Resp> {
        match self {
            Error::Failed { response, .. } => Some(*response),
            _ => None,
        }
    }
}

impl<E: std::fmt::Display, Resp> std::fmt::Display for Error<E, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoEndpoints => write!(f, "no endpoint to send to: discovery has found none"),
            Error::CircuitOpen => write!(f, "circuit open for every zone that could take the request (panic is off)"),
            Error::Failed { attempts, kind, gave_up, .. } => write!(f, "attempt {attempts} failed ({kind:?}); gave up: {gave_up}"),
            Error::Timeout { attempts, gave_up } => write!(f, "attempt {attempts} timed out; gave up: {gave_up}"),
            Error::Transport { attempts: 0, error, .. } => write!(f, "the transport failed before any attempt: {error}"),
            Error::Transport { attempts, kind, gave_up, error } => write!(f, "attempt {attempts} failed ({kind:?}: {error}); gave up: {gave_up}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display, Resp: std::fmt::Debug> std::error::Error for Error<E, Resp> {}
