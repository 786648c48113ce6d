//! What the commands read from stdin or a file: secrets, credentials and
//! passwords, never from the command line, and never printed.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Most bytes of secrets read from stdin or a file.
const SECRET_INPUT_LIMIT: u64 = 64 * 1024;

/// Reads secrets, one per line, from `file` or else stdin. Blank lines are
/// skipped and a line's `\r\n` ending is accepted; anything else on a line
/// is the secret, checked later (whitespace and control characters refused).
pub fn read_secrets(file: Option<&Path>) -> Result<Vec<String>> {
    read_lines(
        file,
        "Type or paste the secret(s), one per line, then press Ctrl-D:",
    )
}

/// [`read_secrets`], saying `prompt` first when stdin is a terminal.
pub fn read_lines(file: Option<&Path>, prompt: &str) -> Result<Vec<String>> {
    let mut raw = Vec::new();
    let origin = match file {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|f| f.take(SECRET_INPUT_LIMIT + 1).read_to_end(&mut raw))
                .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            format!("{}", path.display())
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("{prompt}");
            }
            stdin
                .lock()
                .take(SECRET_INPUT_LIMIT + 1)
                .read_to_end(&mut raw)
                .context("cannot read the secret(s) from stdin")?;
            "stdin".to_string()
        }
    };
    if raw.len() as u64 > SECRET_INPUT_LIMIT {
        bail!("{origin} holds more than {SECRET_INPUT_LIMIT} bytes: that is not a list of secrets");
    }
    let text = String::from_utf8(raw).map_err(|_| anyhow::anyhow!("{origin} is not UTF-8 text"))?;
    Ok(text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Reads one password line from stdin: a trailing `\n` or `\r\n` is
/// dropped, a second line is refused. Nothing read is ever printed.
pub fn read_password() -> Result<String> {
    let limit = store::users::MAX_PASSWORD_BYTES as u64 + 2;
    let stdin = std::io::stdin();
    let mut raw = Vec::new();
    if stdin.is_terminal() {
        eprintln!("Type the password (at least 12 characters) and press Enter (it is shown as you type; pipe it on stdin to avoid that):");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdin.lock().take(limit + 1), &mut line)
            .context("cannot read the password from stdin")?;
        raw = line.into_bytes();
    } else {
        stdin
            .lock()
            .take(limit + 1)
            .read_to_end(&mut raw)
            .context("cannot read the password from stdin")?;
    }
    if raw.len() as u64 > limit {
        bail!("{}", store::users::UserError::PasswordTooLong);
    }
    let text =
        String::from_utf8(raw).map_err(|_| anyhow::anyhow!("the password is not UTF-8 text"))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\n') {
        bail!("give the password as one line on stdin");
    }
    if line.is_empty() {
        bail!("no password given: pipe it on stdin (e.g. `worker user add NAME --role viewer < password.txt`)");
    }
    Ok(line.to_string())
}
