//! The agent's greeting. Before HTTP/2 starts on a new agent connection, the agent sends one
//! line and the proxy answers one line:
//!
//! ```text
//! agent -> proxy:  AZTUNNEL/1 <agent-id> <token> <backend>[,<backend>...]\n
//! proxy -> agent:  OK\n   or   ERR <reason>\n  (and the proxy closes)
//! ```
//!
//! Then the roles invert: the proxy is the HTTP/2 *client* on the connection the agent opened,
//! and each request for the agent's backends is one HTTP/2 stream to it.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The most a greeting line may hold.
pub const MAX_LINE: usize = 1024;

/// What an agent says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub agent: String,
    pub token: String,
    pub backends: Vec<String>,
}

impl Hello {
    pub fn encode(&self) -> String {
        format!("AZTUNNEL/1 {} {} {}\n", self.agent, self.token, self.backends.join(","))
    }

    pub fn parse(line: &str) -> Result<Hello, String> {
        let mut parts = line.trim_end().split(' ');
        if parts.next() != Some("AZTUNNEL/1") {
            return Err("not an AZTUNNEL/1 greeting".into());
        }
        let (Some(agent), Some(token), Some(backends), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("expected: AZTUNNEL/1 <agent> <token> <backends>".into());
        };
        let backends: Vec<String> = backends.split(',').filter(|b| !b.is_empty()).map(str::to_string).collect();
        if agent.is_empty() || backends.is_empty() {
            return Err("an agent names itself and at least one backend".into());
        }
        Ok(Hello { agent: agent.into(), token: token.into(), backends })
    }
}

/// Reads one `\n`-terminated line, a byte at a time so nothing after it is consumed (HTTP/2
/// starts right after).
pub async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<String> {
    let mut line = Vec::new();
    loop {
        let b = stream.read_u8().await?;
        if b == b'\n' {
            break;
        }
        if line.len() >= MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "greeting line too long"));
        }
        line.push(b);
    }
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "greeting is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_round_trips_and_bad_ones_are_refused() {
        let h = Hello { agent: "a1".into(), token: "s3cret".into(), backends: vec!["orders".into(), "billing".into()] };
        assert_eq!(Hello::parse(&h.encode()), Ok(h));
        assert!(Hello::parse("HTTP/1.1 200 OK").is_err());
        assert!(Hello::parse("AZTUNNEL/1 a1 tok").is_err());
        assert!(Hello::parse("AZTUNNEL/1 a1 tok ,").is_err());
    }
}
