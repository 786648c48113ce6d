//! The board process's memory and CPU time, and the machine's, from /proc
//! (Linux).

/// Reads `(VmRSS, VmHWM, Threads)` in KiB (threads as a count).
pub(super) fn proc_status(pid: u32) -> Option<(u64, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?, field("Threads:")?))
}

/// CPU time (user + system) of `pid`, seconds (clock ticks at 100 Hz, as
/// Linux reports them on every common architecture).
pub(super) fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy CPU time of the whole machine, seconds (the `cpu` line of
/// /proc/stat less idle and iowait; 100 Hz ticks).
pub(super) fn machine_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let busy: u64 = f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?;
    Some(busy as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, hwm, threads) = proc_status(pid).expect("status");
        assert!(rss > 0 && hwm >= rss && threads >= 1);
        assert!(proc_cpu_seconds(pid).is_some());
        assert!(machine_busy_seconds().is_some_and(|s| s > 0.0));
    }
}
