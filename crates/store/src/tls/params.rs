//! The TLS parameters of libpq (`sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`) taken out of a `postgres://` URL or a `key=value` string,
//! since tokio-postgres does not know them.

use std::path::PathBuf;

/// The TLS parameters taken out of the URL.
#[derive(Debug, Default, PartialEq)]
pub(super) struct TlsParams {
    pub(super) mode: Option<String>,
    pub(super) root_cert: Option<String>,
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
}

impl TlsParams {
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// libpq's default CA file, when it exists.
pub(super) fn default_root_cert() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".postgresql").join("root.crt");
    p.exists().then(|| p.to_string_lossy().into_owned())
}

/// Splits the TLS parameters this module handles off `url`. Returns the
/// rest (for tokio-postgres) and those parameters.
pub(super) fn split_tls_params(url: &str) -> (String, TlsParams) {
    let mut params = TlsParams::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), params);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !params.take(&percent_decode(k), percent_decode(v))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, params)
    } else {
        let kept: Vec<String> = key_values(url)
            .into_iter()
            .filter_map(|(k, v)| {
                if params.take(&k, v.clone()) {
                    None
                } else {
                    Some(format!(
                        "{k}='{}'",
                        v.replace('\\', "\\\\").replace('\'', "\\'")
                    ))
                }
            })
            .collect();
        (kept.join(" "), params)
    }
}

/// `%XX` sequences decoded (a malformed one is kept as it is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a libpq `key=value` string (values optionally single-quoted,
/// with backslash escapes).
fn key_values(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            return out;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            // Not a pair: leave it to tokio-postgres to complain about.
            out.push((key, String::new()));
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\'' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_are_split_off() {
        let (rest, p) = split_tls_params(
            "postgres://u:p@db:5432/x?sslmode=verify-full&application_name=a&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split_tls_params("postgres://u@db/x?sslmode=require");
        assert_eq!(rest, "postgres://u@db/x");
        assert_eq!(p.mode.as_deref(), Some("require"));
        let (rest, p) = split_tls_params("postgres://u@db/x");
        assert_eq!(
            (rest.as_str(), p),
            ("postgres://u@db/x", TlsParams::default())
        );
    }

    #[test]
    fn key_value_params_are_split_off() {
        let (rest, p) = split_tls_params(
            "host=db user=u password='it\\'s a secret' sslmode = verify-ca sslrootcert='/a b/ca.pem'",
        );
        assert_eq!(rest, "host='db' user='u' password='it\\'s a secret'");
        assert_eq!(p.mode.as_deref(), Some("verify-ca"));
        assert_eq!(p.root_cert.as_deref(), Some("/a b/ca.pem"));
        let cfg: tokio_postgres::Config = rest.parse().expect("tokio-postgres reads it back");
        assert_eq!(cfg.get_password(), Some(&b"it's a secret"[..]));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2Fa%20b"), "/a b");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
