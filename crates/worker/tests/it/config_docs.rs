//! The configuration reference stays true: every environment variable a
//! binary reads through clap (`env = "..."`) is documented in
//! `docs/configuration.md`, with its flag and with the default the code
//! has; and nothing is documented that no binary reads.
//!
//! The variables and defaults come from the real binaries' `--help` (clap
//! prints `[env: NAME=]` and `[default: VALUE]`): `ingest`, `board`,
//! `traffic` and every `worker` subcommand, nested ones included, found
//! from the help itself. The document is read as `docs/configuration.md`
//! describes: a Markdown table with a `default` column is a configuration
//! table; its `variable` (or `environment`) column names the variables in
//! backticks, its `flag` column the flag, and its default cell holds the
//! default in backticks, or no backticks at all when there is none. A row
//! may name several variables, with one default each (in order) or one for
//! all.
//!
//! `CONFIG_DOC=path` reads another document (relative to the workspace
//! root), e.g. an older README, to see what it lacks.
//!
//! Needs the binaries: `cargo build --workspace --bins`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables read outside clap (`std::env::var`, `EnvFilter`): they must be
/// documented too; their defaults are not visible in `--help`, so only the
/// row is checked.
const READ_OUTSIDE_CLAP: &[&str] = &[
    "SWITCHBOARD_SECRETS_KEY",
    "SWITCHBOARD_SECRETS_KEY_PREVIOUS",
    "RUST_LOG",
    "LOG_FORMAT",
];

/// The binaries whose configuration is documented.
const BINARIES: &[&str] = &["ingest", "worker", "board", "traffic"];

/// One `[env: ...]` annotation: where it was printed, the flag and the
/// default clap shows.
#[derive(Debug, Clone)]
struct CodeVar {
    command: String,
    flag: Option<String>,
    default: Option<String>,
}

/// One documented variable: its row (for messages), flag cell and default.
#[derive(Debug, Clone)]
struct DocVar {
    line: usize,
    flags: String,
    /// The default cell as written.
    cell: String,
    /// `None`: no default documented; `Some(Err(cell))`: the row names more
    /// variables than its default cell has values.
    default: Option<Result<String, String>>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `args --help` of `binary`, run in an empty directory with an empty
/// environment (no `.env`, no variable shown with a value).
fn help(binary: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(binary)
        .args(args)
        .arg("--help")
        .env_clear()
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?} --help: {e}", binary.display()));
    assert!(
        out.status.success(),
        "{} {args:?} --help failed: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommands a help page lists under `Commands:` (not `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !line.starts_with(' ') {
            break;
        }
        // A wrapped description is indented further than the names.
        if line.starts_with("  ") && !line.starts_with("   ") {
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// The text between `[open` and the next `]` in `s`.
fn bracket<'a>(s: &'a str, open: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(']')? + start;
    Some(&s[start..end])
}

/// The options of a help page that carry `[env: ...]`: name -> (flag, default).
fn env_options(help: &str) -> Vec<(String, Option<String>, Option<String>)> {
    // An entry starts at a line whose text begins with `-` (indented at
    // most 6: descriptions are indented further) and runs until the next
    // entry, a blank line or a section header.
    let mut entries: Vec<String> = Vec::new();
    let mut open = false;
    for line in help.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if text.starts_with('-') && (1..=6).contains(&indent) {
            entries.push(text.to_string());
            open = true;
        } else if open && indent > 0 && !text.is_empty() {
            if let Some(last) = entries.last_mut() {
                last.push(' ');
                last.push_str(text);
            }
        } else {
            open = false;
        }
    }
    entries
        .iter()
        .filter_map(|e| {
            let env = bracket(e, "[env: ")?;
            let name = env.split('=').next().unwrap_or(env).trim().to_string();
            let flag = e
                .split([' ', ','])
                .find(|w| w.starts_with("--"))
                .map(str::to_string);
            let default = bracket(e, "[default: ").map(str::to_string);
            Some((name, flag, default))
        })
        .collect()
}

/// Every variable every binary reads through clap, with where.
fn code_vars() -> BTreeMap<String, Vec<CodeVar>> {
    let dir = std::env::temp_dir().join(format!("config-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut vars: BTreeMap<String, Vec<CodeVar>> = BTreeMap::new();
    for name in BINARIES {
        let binary = testkit::bin(name).expect("build the binaries first");
        // Breadth first through the subcommands.
        let mut todo: Vec<Vec<String>> = vec![vec![]];
        while let Some(path) = todo.pop() {
            let args: Vec<&str> = path.iter().map(String::as_str).collect();
            let page = help(&binary, &args, &dir);
            let command = std::iter::once(*name)
                .chain(args.iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            for (var, flag, default) in env_options(&page) {
                vars.entry(var).or_default().push(CodeVar {
                    command: command.clone(),
                    flag,
                    default,
                });
            }
            for sub in subcommands(&page) {
                let mut next = path.clone();
                next.push(sub);
                todo.push(next);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    vars
}

/// The backticked spans of a table cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn is_var_name(s: &str) -> bool {
    s.len() > 1
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn cells(line: &str) -> Vec<&str> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(str::trim).collect()
}

/// The variables the configuration tables of `doc` document.
fn doc_vars(doc: &str) -> BTreeMap<String, Vec<DocVar>> {
    let mut vars: BTreeMap<String, Vec<DocVar>> = BTreeMap::new();
    let lines: Vec<&str> = doc.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let is_table = lines[i].trim_start().starts_with('|')
            && lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with("|-") || l.contains("|---"));
        if !is_table {
            i += 1;
            continue;
        }
        let header: Vec<String> = cells(lines[i]).iter().map(|c| c.to_lowercase()).collect();
        let find = |words: &[&str]| {
            header
                .iter()
                .position(|h| words.iter().any(|w| h.contains(w)))
        };
        let default_col = find(&["default"]);
        let var_col = find(&["variable", "environment"]).unwrap_or(0);
        let flag_col = find(&["flag"]);
        i += 2;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            let row = cells(lines[i]);
            if let Some(dc) = default_col {
                let names: Vec<&str> = row
                    .get(var_col)
                    .map(|c| {
                        ticked(c)
                            .into_iter()
                            // `LOG_FORMAT=json` names LOG_FORMAT.
                            .map(|s| s.split('=').next().unwrap_or(s))
                            .filter(|s| is_var_name(s))
                            .collect()
                    })
                    .unwrap_or_default();
                let cell = row.get(dc).copied().unwrap_or("");
                let defaults = ticked(cell);
                let flags = flag_col
                    .and_then(|c| row.get(c))
                    .copied()
                    .unwrap_or("")
                    .to_string();
                for (k, name) in names.iter().enumerate() {
                    let default = match defaults.len() {
                        0 => None,
                        1 => Some(Ok(defaults[0].to_string())),
                        n if n >= names.len() => Some(Ok(defaults[k].to_string())),
                        _ => Some(Err(cell.to_string())),
                    };
                    vars.entry(name.to_string()).or_default().push(DocVar {
                        line: i + 1,
                        flags: flags.clone(),
                        cell: cell.to_string(),
                        default,
                    });
                }
            }
            i += 1;
        }
    }
    vars
}

fn show(default: Option<&str>) -> String {
    default.map_or("none".into(), |d| format!("`{d}`"))
}

/// What `doc` gets wrong about `code`, one line each.
fn problems(
    code: &BTreeMap<String, Vec<CodeVar>>,
    doc: &BTreeMap<String, Vec<DocVar>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, uses) in code {
        let mut commands: Vec<&str> = uses.iter().map(|u| u.command.as_str()).collect();
        commands.sort();
        commands.dedup();
        let Some(rows) = doc.get(name) else {
            out.push(format!(
                "missing: {name} (read by {}; default {})",
                commands.join(", "),
                show(uses[0].default.as_deref())
            ));
            continue;
        };
        for u in uses {
            for row in rows {
                let documented = match &row.default {
                    None => None,
                    Some(Ok(d)) => Some(d.as_str()),
                    Some(Err(cell)) => {
                        out.push(format!(
                            "unreadable default: {name} (line {}): {cell:?} has fewer values than the row has variables",
                            row.line
                        ));
                        continue;
                    }
                };
                if documented != u.default.as_deref() {
                    let written = match documented {
                        Some(d) => format!("`{d}`"),
                        None => format!("none ({:?})", row.cell),
                    };
                    out.push(format!(
                        "default differs: {name} (line {}): documented {written}, `{}` has {}",
                        row.line,
                        u.command,
                        show(u.default.as_deref())
                    ));
                }
                if let Some(flag) = &u.flag {
                    if !ticked(&row.flags).iter().any(|f| f == flag) {
                        out.push(format!(
                            "flag missing: {name} (line {}): `{}` reads it from `{flag}`",
                            row.line, u.command
                        ));
                    }
                }
            }
        }
    }
    for name in READ_OUTSIDE_CLAP {
        if !doc.contains_key(*name) {
            out.push(format!("missing: {name} (read outside clap)"));
        }
    }
    for (name, rows) in doc {
        if !code.contains_key(name) && !READ_OUTSIDE_CLAP.contains(&name.as_str()) {
            out.push(format!(
                "not read by any binary: {name} (line {})",
                rows[0].line
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn config_docs_name_every_variable_with_its_default() {
    let root = workspace_root();
    let path = match std::env::var_os("CONFIG_DOC") {
        Some(p) => root.join(p),
        None => root.join("docs/configuration.md"),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let code = code_vars();
    // The help pages were read: a parser gone blind would pass anything.
    for known in [
        "DATABASE_URL",
        "INGEST_BIND",
        "BOARD_BIND",
        "WORKER_BATCH_SIZE",
    ] {
        assert!(code.contains_key(known), "{known} not found in any --help");
    }
    let doc = doc_vars(&text);
    let found = problems(&code, &doc);
    if !found.is_empty() {
        let mut msg = format!(
            "{} disagrees with the binaries ({} variables read through clap):\n",
            path.display(),
            code.len()
        );
        for p in &found {
            let _ = writeln!(msg, "  {p}");
        }
        panic!("{msg}");
    }
}

#[test]
fn config_docs_parse_help_and_tables() {
    let page = "\
Usage: x [OPTIONS]

Commands:
  run          Process events
  source       Manage sources, with a description long enough
               to wrap onto a second line
  help         Print this message

Options:
      --bind <BIND>
          Listen address [env: X_BIND=] [default: 127.0.0.1:8080]
      --flag  A flag [env: X_FLAG=]
  -h, --help  Print help
";
    assert_eq!(subcommands(page), ["run", "source"]);
    let opts = env_options(page);
    assert_eq!(opts.len(), 2);
    assert_eq!(opts[0].0, "X_BIND");
    assert_eq!(opts[0].1.as_deref(), Some("--bind"));
    assert_eq!(opts[0].2.as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(opts[1].2, None);

    let doc = "\
| variable | flag | default | what |
|---|---|---|---|
| `X_BIND` | `--bind` | `127.0.0.1:8080` | listen |
| `X_FLAG` | `--flag` | none | a flag |
| `A_B`, `A_C` | | `1s`, `5m` | two |
";
    let d = doc_vars(doc);
    assert_eq!(d["X_BIND"][0].default, Some(Ok("127.0.0.1:8080".into())));
    assert_eq!(d["X_FLAG"][0].default, None);
    assert_eq!(d["A_C"][0].default, Some(Ok("5m".into())));
}
