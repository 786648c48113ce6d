//! `docs/openapi.json` against the running board: every route the server
//! registers is documented (and nothing else), and every documented
//! operation, asked without credentials and with each credential it
//! names, answers one of its documented statuses (a JSON body where it
//! documents one).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::helpers::{login, stack, OPERATOR};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The strings of `const NAME: [&str; N] = [...]` in `src`.
fn const_list(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("const {name}:"))
        .unwrap_or_else(|| panic!("const {name} not found"));
    let rest = &src[start..];
    let list = rest.split('=').nth(1).unwrap_or_default();
    let list = &list[..list.find(';').unwrap_or(list.len())];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The paths a `.route(` argument stands for: a literal, or a
/// `format!` inside `for NAME in CONST` (`{{`/`}}` are literal braces,
/// `{NAME}` takes each of CONST's strings).
fn expand(src: &str, at: usize, path: &str, format: bool) -> Vec<String> {
    if !format {
        return vec![path.to_string()];
    }
    let literal = path.replace("{{", "\u{1}").replace("}}", "\u{2}");
    let unbrace = |p: &str| p.replace('\u{1}', "{").replace('\u{2}', "}");
    let Some(open) = literal.find('{') else {
        return vec![unbrace(&literal)];
    };
    let close = literal[open..].find('}').expect("closing brace") + open;
    let var = &literal[open + 1..close];
    let head = &src[..at];
    let loop_at = head
        .rfind(&format!("for {var} in "))
        .unwrap_or_else(|| panic!("no `for {var} in` before a route"));
    let konst = head[loop_at..]
        .split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .trim_start_matches('&');
    const_list(src, konst)
        .iter()
        .map(|v| unbrace(&literal.replace(&format!("{{{var}}}"), v)))
        .collect()
}

/// `(METHOD, path)` of every `.route(PATH, web::METHOD()` (and
/// `cfg.route(...)`) in the board's source, every `.rs` file under
/// `crates/board/src`; the path may be on the next line.
fn server_routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    sources(&root().join("crates/board/src"), &mut files);
    let mut out = BTreeSet::new();
    for file in files {
        let src = std::fs::read_to_string(&file).expect("source");
        let mut at = 0;
        for piece in src.split(".route(") {
            let here = at;
            at += piece.len() + ".route(".len();
            if here == 0 {
                continue;
            }
            let path = piece.split('"').nth(1).unwrap_or_default();
            let method = piece
                .split("web::")
                .nth(1)
                .and_then(|m| m.split('(').next())
                .unwrap_or_default()
                .to_uppercase();
            let format = piece
                .split('"')
                .next()
                .unwrap_or_default()
                .contains("format!");
            for p in expand(&src, here, path, format) {
                out.insert((method.clone(), p));
            }
        }
    }
    out
}

fn document() -> Value {
    let text = std::fs::read_to_string(root().join("docs/openapi.json")).expect("openapi.json");
    serde_json::from_str(&text).expect("openapi.json parses")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_matches_the_running_board() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    assert_eq!(
        server_routes(),
        documented,
        "the server's routes and the document's"
    );

    let s = stack(&[]).await.expect("stack");
    let base = s.board().url();
    let token = testkit::worker_ok(&s.db.url, &["token", "add", "feed", "--stream"])
        .await
        .expect("token")
        .trim()
        .to_string();
    let cookie = login(&base, OPERATOR.0, OPERATOR.1).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut asked = 0;
    // Sorted by path: /logout (which ends the session) comes last.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            let mut url = format!("{base}{path}");
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let ex = p["example"]
                        .as_str()
                        .expect("path parameters have an example");
                    url = url.replace(
                        &format!("{{{}}}", p["name"].as_str().unwrap_or_default()),
                        ex,
                    );
                }
            }
            let mut creds: Vec<Option<&str>> = vec![None];
            for alt in op["security"].as_array().into_iter().flatten() {
                for scheme in alt.as_object().into_iter().flat_map(|o| o.keys()) {
                    creds.push(Some(scheme.as_str()));
                }
            }
            for cred in creds {
                let mut rq = if method == "post" {
                    client.post(&url).header("Origin", &base)
                } else {
                    client.get(&url)
                };
                match cred {
                    Some("token") => rq = rq.bearer_auth(&token),
                    Some("session") => rq = rq.header("Cookie", &cookie),
                    _ => {}
                }
                if let Some(content) = op["requestBody"]["content"].as_object() {
                    if let Some(ex) = content.get("application/json").map(|c| &c["example"]) {
                        rq = rq.json(ex);
                    } else if let Some(ex) = content
                        .get("application/x-www-form-urlencoded")
                        .and_then(|c| c["example"].as_str())
                    {
                        rq = rq
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .body(ex.to_string());
                    }
                }
                let r = rq.send().await.expect("request");
                let status = r.status().as_u16().to_string();
                let answer = &op["responses"][&status];
                assert!(
                    answer.is_object(),
                    "{} {path} with {cred:?} answered {status}, not documented",
                    method.to_uppercase()
                );
                if answer["content"].get("application/json").is_some() {
                    let body: Result<Value, _> = r.json().await;
                    assert!(body.is_ok(), "{method} {path} {status}: not JSON");
                }
                asked += 1;
            }
        }
    }
    eprintln!(
        "openapi: {} routes documented, {asked} requests answered as documented",
        documented.len()
    );
}
