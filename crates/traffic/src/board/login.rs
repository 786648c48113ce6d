//! Logging in to the board, as a browser does: one session cookie for
//! every stream.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::header;

fn origin_of(url: &str) -> Result<String> {
    let u = reqwest::Url::parse(url).with_context(|| format!("board URL {url:?}"))?;
    Ok(u.origin().ascii_serialization())
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Logs in; returns the `sb_session=...` cookie pair.
pub async fn login(board: &str, user: &str, password: &str) -> Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{}/login", board.trim_end_matches('/')))
        .header(header::ORIGIN, origin_of(board)?)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "username={}&password={}",
            form_encode(user),
            form_encode(password)
        ))
        .send()
        .await
        .context("POST /login")?;
    let status = resp.status();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with("sb_session=") && pair.len() > "sb_session=".len())
        .map(str::to_string);
    match cookie {
        Some(c) if status.as_u16() == 303 => Ok(c),
        _ => bail!("login as {user} failed: {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("bench password 123"), "bench+password+123");
        assert_eq!(form_encode("a&b=c/é"), "a%26b%3Dc%2F%C3%A9");
    }
}
