//! Whether a sender may send for a source: its address (see
//! [`telemetry::client_ip`]) against the source's allowlist.

use std::net::IpAddr;

use ipnet::IpNet;

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
