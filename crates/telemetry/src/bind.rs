//! Binding the binaries' listeners, with the address in the error.

use std::net::TcpListener;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}{purpose}")]
pub struct BindError {
    addr: String,
    /// Empty, or " for metrics".
    purpose: &'static str,
    #[source]
    source: std::io::Error,
}

/// Binds the public listener on `addr`.
pub fn bind(addr: &str) -> Result<TcpListener, BindError> {
    bind_for(addr, "")
}

/// Binds the operators' listener (`--metrics-bind`) on `addr`, when one is
/// configured.
pub fn bind_ops(addr: Option<&str>) -> Result<Option<TcpListener>, BindError> {
    addr.map(|a| bind_for(a, " for metrics")).transpose()
}

fn bind_for(addr: &str, purpose: &'static str) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).map_err(|source| BindError {
        addr: addr.to_string(),
        purpose,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_address_and_the_purpose() {
        let taken = bind("127.0.0.1:0").expect("a free port");
        let addr = taken.local_addr().expect("addr").to_string();
        let e = bind(&addr).expect_err("taken");
        assert_eq!(e.to_string(), format!("cannot listen on {addr}"));
        let e = bind_ops(Some(&addr)).expect_err("taken");
        assert_eq!(
            e.to_string(),
            format!("cannot listen on {addr} for metrics")
        );
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        assert!(bind_ops(None).expect("nothing to bind").is_none());
    }
}
