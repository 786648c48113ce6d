//! SSRF: an endpoint's URL must reach a public address unless the endpoint
//! was added with `--allow-private`. Checked when the endpoint is added and
//! at every connection: the guarded client's resolver drops every address
//! that is not public (so a name that re-resolves to an internal address
//! later is refused then too), and a URL whose host is an address is
//! checked as such.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL or an address is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("not an http(s) URL with a host: {0}")]
    Url(String),
    #[error("{host} is {addr}, a {kind} address: refused (add the endpoint with --allow-private for an internal receiver)")]
    Private {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("{0} resolves to no address")]
    Unresolved(String),
}

/// What kind of non-public address `ip` is; `None` when it is public.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let seg = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if seg[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if seg[0] == 0x64 && seg[1] == 0xff9b {
                // NAT64: the IPv4 address it embeds decides.
                let v4 = Ipv4Addr::new(
                    (seg[6] >> 8) as u8,
                    seg[6] as u8,
                    (seg[7] >> 8) as u8,
                    seg[7] as u8,
                );
                v4_kind(v4)
            } else {
                None
            }
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

/// Checks `url` for an endpoint: http(s) with a host; unless
/// `allow_private`, every address the host resolves to must be public.
pub async fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, Refused> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Refused::Url(url.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > 2048 {
        return Err(Refused::Url(url.to_string()));
    }
    let Some(host) = parsed
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_string())
    else {
        return Err(Refused::Url(url.to_string()));
    };
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refused::Unresolved(host.clone()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved(host));
    }
    for a in &addrs {
        if let Some(kind) = private_kind(a.ip()) {
            return Err(Refused::Private {
                host,
                addr: a.ip(),
                kind,
            });
        }
    }
    Ok(parsed)
}

/// The guarded client's resolver: only public addresses.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| private_kind(a.ip()).is_none())
                .collect();
            if public.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> = match all.first() {
                    Some(a) => Box::new(Refused::Private {
                        host,
                        addr: a.ip(),
                        kind: private_kind(a.ip()).unwrap_or("private"),
                    }),
                    None => Box::new(Refused::Unresolved(host)),
                };
                return Err(e);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Refuses a URL whose host is a non-public address (the resolver never
/// sees those), for an endpoint without `--allow-private`.
pub fn check_literal(url: &reqwest::Url) -> Result<(), Refused> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    match host.parse::<IpAddr>() {
        Ok(addr) => match private_kind(addr) {
            Some(kind) => Err(Refused::Private {
                host: host.to_string(),
                addr,
                kind,
            }),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn kind(s: &str) -> Option<&'static str> {
        private_kind(s.parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST)))
    }

    #[test]
    fn sorts_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "224.0.0.1",
        ] {
            assert!(kind(private).is_some(), "{private} should be refused");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(kind(public), None, "{public} is public");
        }
    }

    #[tokio::test]
    async fn refuses_internal_urls_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost:9/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
        ] {
            let e = check_url(url, false).await.err();
            assert!(matches!(e, Some(Refused::Private { .. })), "{url}: {e:?}");
            assert!(check_url(url, true).await.is_ok(), "{url} allowed");
        }
        for url in ["ftp://example.com/", "not a url", "file:///etc/passwd"] {
            assert!(check_url(url, true).await.is_err(), "{url}");
        }
        assert!(check_literal(
            &reqwest::Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!())
        )
        .is_err());
    }
}
