//! Shared by the measuring examples (`#[path = "common/cpu.rs"] mod cpu;`).

/// CPU seconds (user + system) of this process so far, all threads (Linux `/proc`).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}
