//! Why a request failed, classified where the failure arises and read by whoever acts on it.

use std::fmt;

/// How a request failed. Its `Display` is the reason as the history has always rendered it
/// ("timeout", "connection refused", "status 503", ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The client gave up waiting for an answer.
    Timeout,
    /// The connection was refused (nothing listening, or the host is gone).
    Refused,
    /// An open connection was reset under the request (the server had closed it, forgotten
    /// it, or its process died): ECONNRESET.
    Reset,
    /// There was nowhere to send the request (an empty DNS or discovery answer).
    NoAddress,
    /// An answer with this HTTP-like status (4xx or 5xx).
    Status(u16),
    /// The last attempt failed so, and the client's retry budget allowed no other.
    RetryBudgetExhausted(Box<Failure>),
    /// Anything else, as the client put it.
    Other(String),
}

impl Failure {
    /// Nobody answered in time (also when that was the last attempt before giving up).
    pub fn is_timeout(&self) -> bool {
        match self {
            Failure::Timeout => true,
            Failure::RetryBudgetExhausted(last) => last.is_timeout(),
            _ => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timeout"),
            Failure::Refused => f.write_str("connection refused"),
            Failure::Reset => f.write_str("connection reset"),
            Failure::NoAddress => f.write_str("no address to send to"),
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::RetryBudgetExhausted(last) => write!(f, "{last}; retry budget exhausted"),
            Failure::Other(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Failure::*;

    #[test]
    fn reasons_render_as_they_always_have() {
        let cases = [
            (Timeout, "timeout", true),
            (Refused, "connection refused", false),
            (Reset, "connection reset", false),
            (NoAddress, "no address to send to", false),
            (Status(503), "status 503", false),
            (RetryBudgetExhausted(Box::new(Timeout)), "timeout; retry budget exhausted", true),
            (RetryBudgetExhausted(Box::new(Status(502))), "status 502; retry budget exhausted", false),
            (Other("CircuitOpen".into()), "CircuitOpen", false),
        ];
        for (failure, text, timeout) in cases {
            assert_eq!((failure.to_string().as_str(), failure.is_timeout()), (text, timeout), "{failure:?}");
        }
    }
}
