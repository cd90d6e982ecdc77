//! TLS as cost on a connection: the handshake's round trips between the TCP handshake and the
//! first request, and its bytes. A client that keeps connections with `tls` set sends its
//! first flight once the SYN-ACK is in, and its request only when the server's last flight of
//! the handshake has come back:
//! - TLS 1.3 full handshake: one round trip (ClientHello; ServerHello to Finished), the
//!   client's Finished travelling with the request ([RFC 8446](https://www.rfc-editor.org/rfc/rfc8446), section 2);
//! - TLS 1.2 full handshake: two (ClientHello; ServerHello, Certificate, ServerKeyExchange,
//!   ServerHelloDone; then ClientKeyExchange, ChangeCipherSpec, Finished; the server's
//!   ChangeCipherSpec and Finished) ([RFC 5246](https://www.rfc-editor.org/rfc/rfc5246), section 7.3).
//!
//! So a new HTTPS connection's first answer comes after 3 round trips with 1.3 (TCP, TLS,
//! request) and 4 with 1.2.
//!
//! A client that keeps sessions (`resumption`) resumes one on its next connection to the same
//! server: one round trip for either version (1.2's abbreviated handshake, RFC 5246 section
//! 7.3; 1.3's PSK, RFC 8446 section 2.2), and a server flight without the certificate. Sessions
//! are per server host: an ALB keeps session IDs and tickets per node, so a connection to
//! another node of the same ALB pays a full handshake
//! ([AWS](https://repost.aws/knowledge-center/elb-ssl-tls-session-resumption-support)). The
//! terminating side's CPU time for a full handshake is a setting (AWS documents none; default
//! none). Not modelled: 1.3's 0-RTT early data, and the 22 bytes of record overhead on each
//! record of data afterwards.
//!
//! Sizes (ours: typical, not AWS's; AWS does not publish them): a ClientHello of 517 bytes (as
//! browsers pad it), the server's first flight of 4,000 bytes (its certificate chain, a leaf
//! and an intermediate with RSA-2048 keys, makes most of it), and for 1.2 the client's second
//! flight of 126 bytes and the server's of 51; a resumed handshake's server flight of 150 (its
//! ServerHello, and ChangeCipherSpec and Finished or EncryptedExtensions and Finished).

use azsim_kernel::Message;

use crate::rpc::Body;

/// The TLS version a client and a listener settle on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    V1_2,
    V1_3,
}

pub const CLIENT_HELLO_BYTES: u64 = 517;
pub const SERVER_FIRST_FLIGHT_BYTES: u64 = 4_000;
pub const CLIENT_SECOND_FLIGHT_BYTES: u64 = 126;
pub const SERVER_SECOND_FLIGHT_BYTES: u64 = 51;
pub const RESUMED_SERVER_FLIGHT_BYTES: u64 = 150;

impl Tls {
    /// Round trips of a handshake: a full one, or one that resumes a session (one round trip
    /// with either version).
    pub fn round_trips(self, resumed: bool) -> u32 {
        match (self, resumed) {
            (_, true) | (Tls::V1_3, false) => 1,
            (Tls::V1_2, false) => 2,
        }
    }
}

/// One flight of a connection's TLS handshake: which connection (the client's number for it),
/// and which round trip (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flight {
    pub conn: u64,
    pub round: u32,
    /// The client resumes a session (the server echoes it).
    pub resumed: bool,
}

impl Body {
    /// The client's flight of round `round` on `conn` (`resumed`: it offers a session).
    pub fn tls_hello(conn: u64, round: u32, resumed: bool) -> Message {
        let bytes = if round == 1 { CLIENT_HELLO_BYTES } else { CLIENT_SECOND_FLIGHT_BYTES };
        Body::TlsHello(Flight { conn, round, resumed }).message(None, bytes)
    }

    /// The server's answer to the client's flight `f`.
    pub fn tls_reply(f: Flight) -> Message {
        let bytes = match (f.resumed, f.round) {
            (true, _) => RESUMED_SERVER_FLIGHT_BYTES,
            (false, 1) => SERVER_FIRST_FLIGHT_BYTES,
            (false, _) => SERVER_SECOND_FLIGHT_BYTES,
        };
        Body::TlsReply(f).message(None, bytes)
    }
}
