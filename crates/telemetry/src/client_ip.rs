//! Who is asking: the peer's address, or, behind trusted proxies, the
//! address they say they forwarded for. Ingest checks senders' allowlists
//! with it; the board counts login attempts per address.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The sender's address. The peer's own address, unless the peer is one of
/// `trusted` proxies: then the right-most `X-Forwarded-For` entry that is
/// not itself a trusted proxy (entries further left are the client's word,
/// which anyone can forge). Returns `None` when the peer is unknown.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if trusted.is_empty() {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve(peer, &forwarded, trusted))
}

/// Parses a CIDR (`10.0.0.0/8`) or a single address (as a /32 or /128):
/// the value parser of the trusted-proxy and allowlist flags.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"))
}

/// [`client_ip`] on plain values.
fn resolve(peer: IpAddr, forwarded: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hop = peer;
    for entry in forwarded.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // A malformed entry ends the trusted chain: the last good hop
            // is the furthest anyone vouches for.
            return hop;
        };
        hop = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    hop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().filter_map(|n| n.parse().ok()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn untrusted_peers_are_who_they_are() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("203.0.113.9"), "198.51.100.1", &t),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let t = nets(&["10.0.0.0/8"]);
        // client, forged by the client, then our two proxies.
        assert_eq!(
            resolve(ip("10.0.0.2"), "1.2.3.4, 198.51.100.7, 10.0.0.1", &t),
            ip("198.51.100.7")
        );
        assert_eq!(resolve(ip("10.0.0.2"), "", &t), ip("10.0.0.2"));
        assert_eq!(resolve(ip("10.0.0.2"), "not-an-ip", &t), ip("10.0.0.2"));
    }
}
