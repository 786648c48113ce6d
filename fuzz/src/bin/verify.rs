//! Fuzz target: `domain::signature::verify` for every provider, with fuzzed
//! headers, body, secrets and options (layout in `lib.rs`). Fails on a panic,
//! and on an acceptance without a valid signature for the fixed secrets.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Some(case) = switchboard_fuzz::VerifyCase::decode(data) {
            let result = case.run();
            case.check(&result);
        }
    });
}
