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

/// `(METHOD, path)` of every `.route(PATH, web::METHOD()` in the board's
/// source.
fn server_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(root().join("crates/board/src/lib.rs")).expect("lib.rs");
    let mut out = BTreeSet::new();
    for piece in src.split(".route(").skip(1) {
        let path = piece.split('"').nth(1).unwrap_or_default().to_string();
        let method = piece
            .split("web::")
            .nth(1)
            .and_then(|m| m.split('(').next())
            .unwrap_or_default()
            .to_uppercase();
        out.insert((method, path));
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
