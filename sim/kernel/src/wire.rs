//! What a transmission costs on the wire: the application's bytes in TCP segments for the
//! path's MTU, each with its TCP/IP header, and the delayed ACKs that come back.
//!
//! - MTU 9001 inside a VPC (jumbo frames: both hosts in AZs of the same Region), 1500 where a
//!   path leaves it (a Region's public service endpoints, edge locations, other Regions: AWS
//!   lists 1500 for traffic through an internet gateway and for inter-Region traffic not over
//!   a transit gateway; the current guide gives inter-Region VPC peering 8500, which is not
//!   modelled). <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/network_mtu.html>
//! - A segment carries MTU - 52 bytes: IPv4 (20) and TCP (20) headers and the timestamps
//!   option (12), which Linux sends by default: 8,949 bytes at 9001, 1,448 at 1500.
//!   <https://www.rfc-editor.org/rfc/rfc7323>
//! - The receiver ACKs every second segment (delayed ACK), 52 bytes each; they travel the
//!   other way but are counted with the data they acknowledge (the AZ pair is the same both
//!   ways, so cross-AZ figures do not move; per-direction tables lean to the sender's side).
//!   <https://www.rfc-editor.org/rfc/rfc9293#section-3.8.6.3>
//!
//! AWS does not say which bytes EC2 data transfer bills; IP packet bytes are what its byte
//! metrics that do say count (a network load balancer's processed bytes, Global Accelerator), so that is the
//! figure reports call "wire" and cost uses. No retransmissions (the message path has no
//! loss but its own retransmission model) and no TLS records.

/// How many times Linux retransmits a data segment before the connection fails with
/// ETIMEDOUT (`net.ipv4.tcp_retries2`, default 15: about 924.6 s with a 200 ms RTO).
/// <https://docs.kernel.org/networking/ip-sysctl.html>
pub const TCP_RETRIES2: u32 = 15;
/// The most a retransmission timeout grows to (Linux's `TCP_RTO_MAX`, 120 s).
pub const TCP_RTO_MAX: u64 = 120_000_000_000;

/// The MTU of a path inside a VPC.
pub const MTU_VPC: u64 = 9001;
/// The MTU of a path that leaves the VPC (internet gateway, inter-Region).
pub const MTU_OUTSIDE: u64 = 1500;
/// IPv4 + TCP headers + the timestamps option, per segment (and per pure ACK).
pub const SEGMENT_HEADER: u64 = 52;

/// The payload of one segment at `mtu`.
pub const fn mss(mtu: u64) -> u64 {
    mtu - SEGMENT_HEADER
}

/// Segments needed for `payload` bytes at `mtu` (at least one: an empty message is still a
/// segment).
pub fn segments(payload: u64, mtu: u64) -> u64 {
    payload.div_ceil(mss(mtu)).max(1)
}

/// The bytes `payload` costs on the wire at `mtu`: the payload, a header per segment, and a
/// pure ACK for every second segment.
pub fn tcp_bytes(payload: u64, mtu: u64) -> u64 {
    let n = segments(payload, mtu);
    payload + n * SEGMENT_HEADER + n.div_ceil(2) * SEGMENT_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_mss_of_the_path() {
        // 1 KiB in one segment either way: 1024 + 52, and one ACK.
        assert_eq!(tcp_bytes(1024, MTU_VPC), 1024 + 52 + 52);
        assert_eq!(tcp_bytes(1024, MTU_OUTSIDE), 1024 + 52 + 52);
        // 64 KiB: 8 segments of 8,949 at 9001 (4 ACKs), 46 of 1,448 at 1500 (23 ACKs).
        assert_eq!(segments(65_536, MTU_VPC), 8);
        assert_eq!(tcp_bytes(65_536, MTU_VPC), 65_536 + 8 * 52 + 4 * 52);
        assert_eq!(segments(65_536, MTU_OUTSIDE), 46);
        assert_eq!(tcp_bytes(65_536, MTU_OUTSIDE), 65_536 + 46 * 52 + 23 * 52);
        // Nothing to send is still one segment.
        assert_eq!(tcp_bytes(0, MTU_VPC), 104);
    }
}
