//! Who is sending: the peer's address, or, behind trusted proxies, the
//! address they say they forwarded for.

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

/// Whether `ip` may send for a source whose allowlist is `allowed` (`None`
/// or empty: anyone).
pub fn allowed(ip: Option<IpAddr>, allowed: Option<&[IpNet]>) -> bool {
    match allowed {
        None | Some([]) => true,
        Some(nets) => ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
    }
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

    #[test]
    fn allowlists() {
        let a = nets(&["198.51.100.0/24", "2001:db8::/32"]);
        assert!(allowed(Some(ip("198.51.100.7")), Some(&a)));
        assert!(allowed(Some(ip("2001:db8::1")), Some(&a)));
        assert!(!allowed(Some(ip("203.0.113.9")), Some(&a)));
        assert!(!allowed(None, Some(&a)));
        assert!(allowed(Some(ip("203.0.113.9")), None));
        assert!(allowed(None, Some(&[])));
    }
}
