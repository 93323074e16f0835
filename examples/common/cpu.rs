//! Shared by the measuring examples (`#[path = "common/cpu.rs"] mod cpu;`).

/// CPU seconds (user + system) of this process so far, all threads (Linux `/proc`).
pub fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// User + system CPU seconds from a Linux `/proc/.../stat` file: fields 14 and 15 (utime,
/// stime), the 12th and 13th after the command name; 0 if unreadable.
fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// CPU seconds (user + system) of the calling thread so far (Linux `/proc/thread-self`).
/// Called on the main thread of a program that runs its parallel work on rayon's pool,
/// this is its sequential part: the main thread sleeps while the pool's threads work.
#[allow(dead_code)]
pub fn thread_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// Minor page faults of this process so far (Linux `/proc/self/stat`, field 10).
#[allow(dead_code)]
pub fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// FNV-1a over the bits of `values`, continuing from `h` (start with [`FNV_START`]): equal
/// sequences, equal checksums.
#[allow(dead_code)]
pub fn fnv_bits(h: u64, values: &[f64]) -> u64 {
    values.iter().fold(h, |h, l| {
        l.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// FNV-1a's offset basis.
#[allow(dead_code)]
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;
