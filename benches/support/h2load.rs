//! Load with h2load: gRPC-framed unary calls over HTTP/2, requests per second and latency
//! percentiles from h2load's per-request log.

use std::path::Path;
use std::process::Stdio;

/// What one h2load run measured.
#[derive(Debug, Default)]
pub struct Load {
    /// Requests per second, as h2load reports them.
    pub rps: f64,
    /// Requests done.
    pub done: u64,
    /// Requests that succeeded (an HTTP answer, whatever its status).
    pub succeeded: u64,
    /// Answers with an HTTP 2xx status (a gRPC error is still HTTP 200: see `data_bytes`).
    pub status_2xx: u64,
    /// Bytes of DATA frames received: the gRPC messages (a trailers-only error has none).
    pub data_bytes: u64,
    /// Median latency, in microseconds (from h2load's `--log-file`).
    pub p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// Server CPU time per request, in microseconds (filled in by the caller).
    pub cpu_us: f64,
}

/// A gRPC message frame: flag 0, big-endian length, the message.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(message.len()).expect("size").to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Runs h2load with `options` (e.g. `-n 100000 -c 8 -m 32 -t 1`) against `url`, POSTing the
/// gRPC-framed `body` with `content-type: application/grpc`, `te: trailers` and
/// `authorization: Bearer <token>`, its body and per-request log kept in `dir` under `label`;
/// panics when h2load fails.
pub fn h2load(dir: &Path, label: &str, url: &str, body: &[u8], token: &str, options: &str) -> Load {
    let body_path = dir.join(format!("{label}.body"));
    let log_path = dir.join(format!("{label}.log"));
    std::fs::write(&body_path, body).expect("body file");
    let _ = std::fs::remove_file(&log_path);
    let output = std::process::Command::new("h2load")
        .args(options.split_whitespace())
        .arg("--data")
        .arg(&body_path)
        .arg("-H")
        .arg("content-type: application/grpc")
        .arg("-H")
        .arg("te: trailers")
        .arg("-H")
        .arg(format!("authorization: Bearer {token}"))
        .arg("--log-file")
        .arg(&log_path)
        .arg(url)
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "h2load failed:\n{text}");
    let numbers = |line: &str| -> Vec<f64> {
        line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|s| s.parse::<f64>().ok())
            .collect()
    };
    let mut load = Load::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("finished in ") {
            // "finished in 4.32s, 46296.30 req/s, 3.45MB/s"
            load.rps = rest
                .split(", ")
                .find(|p| p.ends_with("req/s"))
                .and_then(|p| p.trim_end_matches(" req/s").parse().ok())
                .unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            let n = numbers(rest);
            load.done = n.get(2).copied().unwrap_or(0.0) as u64;
            load.succeeded = n.get(3).copied().unwrap_or(0.0) as u64;
        } else if let Some(rest) = line.strip_prefix("status codes: ") {
            load.status_2xx = numbers(rest).first().copied().unwrap_or(0.0) as u64;
        } else if let Some(rest) = line.strip_prefix("traffic: ") {
            // "... (15614080) total, ... (3400000) headers (...), ... (3600000) data"
            let exact: Vec<u64> = rest
                .split('(')
                .skip(1)
                .filter_map(|p| p.split(')').next()?.parse().ok())
                .collect();
            load.data_bytes = exact.get(2).copied().unwrap_or(0);
        }
    }
    let mut latencies: Vec<u64> = std::fs::read_to_string(&log_path)
        .expect("h2load log")
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i] as f64
    };
    load.p50_us = pct(0.50);
    load.p99_us = pct(0.99);
    println!(
        "h2load {label}: {:.0} req/s, {} done, {} succeeded, {} 2xx, {} data bytes ({:.1} per request), p50 {:.0} µs, p99 {:.0} µs",
        load.rps,
        load.done,
        load.succeeded,
        load.status_2xx,
        load.data_bytes,
        load.data_bytes as f64 / load.done.max(1) as f64,
        load.p50_us,
        load.p99_us
    );
    load
}

/// Whether `tool --version` runs.
pub fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// [`h2load`] against `server`, with the CPU time the server spent during the run, per
/// request, in [`Load::cpu_us`] (from `/proc/<pid>/stat`; the server does nothing else
/// meanwhile). Prints the figures.
pub fn measured(
    server: &super::server::Server,
    dir: &Path,
    label: &str,
    url: &str,
    body: &[u8],
    token: &str,
    options: &str,
) -> Load {
    // `REESTR_BENCH_PERF=<label>[,<label>…]`: a CPU profile of the server while that load runs.
    let perf = std::env::var("REESTR_BENCH_PERF")
        .ok()
        .filter(|wanted| {
            wanted
                .split(',')
                .any(|w| label.ends_with(&format!("-{}", w.trim().replace(' ', "-"))))
        })
        .and_then(|_| {
            let out = dir.join(format!("{label}.perf.data"));
            let child = std::process::Command::new("perf")
                .args(["record", "-F", "999", "-g", "-o"])
                .arg(&out)
                .args(["-p", &server.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            std::thread::sleep(std::time::Duration::from_millis(300));
            Some((child, out))
        });
    let cpu = server.cpu_seconds();
    let mut load = h2load(dir, label, url, body, token, options);
    load.cpu_us = (server.cpu_seconds() - cpu) * 1e6 / load.done.max(1) as f64;
    if let Some((child, out)) = perf {
        // perf writes its file on SIGINT.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait_with_output();
        let kept = std::env::temp_dir().join(out.file_name().unwrap_or_default());
        if std::fs::copy(&out, &kept).is_ok() {
            println!("  profile: perf report -i {} --no-children", kept.display());
        }
    }
    println!("  server CPU: {:.1} µs per call", load.cpu_us);
    load
}
