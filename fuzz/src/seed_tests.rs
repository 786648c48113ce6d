//! The seed corpora replayed without AFL (`cargo test --lib` in fuzz/): every
//! verify seed gets the answer its name promises and passes the oracle;
//! every parse seed parses or fails without panicking.

use std::fs;
use std::path::Path;

use crate::{envelope, parse_case, VerifyCase};

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .expect("seed folder")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, fs::read(&p).expect("seed"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// The seeds that must verify; every other one must be refused.
fn accepted(name: &str) -> bool {
    let refused = [
        "-tampered",
        "-no-header",
        "-alg-",
        "-exp-past",
        "-nbf-future",
        "-exp-text",
        "-claims-array",
        "-plain-with-secret",
        "-not-utf8",
        "-nine",
        "-ts-",
        "-long-id",
    ];
    !refused.iter().any(|r| name.contains(r))
}

#[test]
fn verify_seeds_get_their_answer_and_pass_the_oracle() {
    for (name, data) in seeds("verify") {
        let case = VerifyCase::decode(&data).expect("decodable seed");
        let result = case.run();
        case.check(&result);
        assert_eq!(result.is_ok(), accepted(&name), "{name}: {result:?}");
    }
}

#[test]
fn parse_seeds_do_not_panic() {
    for (_, data) in seeds("parse") {
        if let Some((provider, body)) = parse_case(&data) {
            let _ = domain::parse(provider, body, envelope());
        }
    }
}

/// The oracle itself: an acceptance of a forged signature must fail it.
#[test]
#[should_panic(expected = "wrong signature")]
fn oracle_catches_a_forged_acceptance() {
    use domain::signature::Verified;
    use domain::Provider;
    let data = crate::encode(
        crate::flags(Provider::Yeastar, false, 0),
        0,
        [Some(&b"AAAA"[..]), None, None, None],
        b"{}",
    );
    let case = VerifyCase::decode(&data).expect("decodable");
    case.check(&Ok(Verified {
        dedup_key: crate::sha256_key(b"{}"),
        signed: true,
    }));
}

#[test]
#[should_panic(expected = "expired")]
fn oracle_catches_an_expired_acceptance() {
    use domain::signature::{sign_dialpad, Verified};
    use domain::Provider;
    let jwt = sign_dialpad(crate::FIXED, br#"{"exp":1}"#);
    let data = crate::encode(
        crate::flags(Provider::Dialpad, false, 0),
        0,
        [None; 4],
        jwt.as_bytes(),
    );
    let case = VerifyCase::decode(&data).expect("decodable");
    case.check(&Ok(Verified {
        dedup_key: crate::sha256_key(jwt.as_bytes()),
        signed: true,
    }));
}
