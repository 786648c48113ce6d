//! Fuzz target: `domain::parse` for every provider on fuzzed bodies (byte 0
//! selects the provider). Fails on a panic; errors are expected answers.

fn main() {
    let env = switchboard_fuzz::envelope();
    afl::fuzz!(|data: &[u8]| {
        if let Some((provider, body)) = switchboard_fuzz::parse_case(data) {
            let _ = domain::parse(provider, body, env);
        }
    });
}
