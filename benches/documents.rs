//! Benchmark of document transfer (see BENCHMARKS.md): a file of `REESTR_BENCH_DOCUMENT_MIB`
//! MiB (default 500) uploaded to and downloaded from a real `reestr serve` (release build, its
//! SQLite database and document store in one directory), beside `cp` of the same bytes on the
//! same disk, in one run:
//! 1. `cp` of the file (the bar both transfers are held against);
//! 2. upload through `reestr upload`'s code (the client hashes the file, then streams it in
//!    256 KiB chunks; the server hashes as it writes and commits by rename);
//! 3. download through `reestr download`'s code (streamed in 256 KiB chunks, hashed and
//!    checked by the client, written and renamed into place);
//!
//! each with MiB/s, its ratio to `cp`, the server's CPU time, and the server's RSS before and
//! its peak during the transfer. `REESTR_BENCH_DIR` sets where the files go (default: the system's temp dir).
//!
//! Run: `cargo bench --bench documents`.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use reestr::client::document::{Destination, UploadRequest, digest_of, download_file, upload_file};
use reestr::client::{Target, describe};
use reestr::proto::v1 as pb;
use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::submission_service_client::SubmissionServiceClient;

use support::report::{Table, mib, verdict};
use support::server::{Options, Server};
use support::setup::{ORGANIZATION, create_organization, system};

const SUBMISSION: &str = "systems/bench-doc/submissions/tz";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

/// Writes `size` bytes of xorshift noise (content that does not compress) to `path`.
fn write_noise(path: &Path, size: u64) {
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    out.flush().expect("flush");
    out.get_ref().sync_all().expect("sync");
}

/// Creates the owner organisation, a system and a draft submission to upload into.
async fn submission(target: &Target) {
    create_organization(target).await;
    let channel = target.channel().await.expect("channel");
    InformationSystemServiceClient::new(channel.clone())
        .create_system(pb::CreateSystemRequest {
            system_id: "bench-doc".into(),
            system: Some(system(
                "BENCH-DOC",
                "Benchmark system",
                "Holds the benchmark's documents",
            )),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("create system: {}", describe(&s)));
    SubmissionServiceClient::new(channel)
        .create_submission(pb::CreateSubmissionRequest {
            parent: "systems/bench-doc".into(),
            submission_id: "tz".into(),
            submission: Some(pb::Submission {
                kind: pb::SubmissionKind::Creation as i32,
                title: "Benchmark documentation".into(),
                required_reviewers: vec![format!("organizations/{ORGANIZATION}")],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("create submission: {}", describe(&s)));
}

async fn run() {
    let size_mib: u64 = support::env_or("REESTR_BENCH_DOCUMENT_MIB", 500);
    let size = size_mib << 20;
    let base = std::env::var("REESTR_BENCH_DIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(&base).expect("bench dir");
    let source = dir.path().join("document.pdf");
    write_noise(&source, size);
    println!(
        "document: {size_mib} MiB of noise in {}",
        dir.path().display()
    );

    // cp, twice: the first run warms the page cache the transfers also read from.
    let copy = dir.path().join("copy.pdf");
    let mut cp_seconds = f64::MAX;
    for _ in 0..2 {
        let _ = std::fs::remove_file(&copy);
        let started = Instant::now();
        let status = std::process::Command::new("cp")
            .arg(&source)
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(status.success());
        std::process::Command::new("sync").status().expect("sync");
        cp_seconds = cp_seconds.min(started.elapsed().as_secs_f64());
    }
    std::fs::remove_file(&copy).expect("remove the copy");

    let data_dir = dir.path().join("server");
    std::fs::create_dir(&data_dir).expect("data dir");
    let server = Server::reestr(
        &data_dir,
        Options {
            args: &["--max-document-mib", &(size_mib + 1).to_string()],
            ..Default::default()
        },
    )
    .await;
    let target = server.target();
    submission(&target).await;

    let request = UploadRequest {
        submission: SUBMISSION.into(),
        document_id: "project".into(),
        document_type: pb::DocumentType::TechnicalProject,
        media_type: None,
        restricted: false,
    };
    // The client's own pass over the file before it streams (the SHA-256 it declares).
    let started = Instant::now();
    digest_of(&source, false).await.expect("hash");
    let hash_seconds = started.elapsed().as_secs_f64();
    let before_upload = server.mem();
    server.reset_peak();
    let upload_cpu = server.cpu_seconds();
    let started = Instant::now();
    let uploaded = upload_file(&target, &source, &request, false)
        .await
        .expect("upload");
    std::process::Command::new("sync").status().expect("sync");
    let upload_seconds = started.elapsed().as_secs_f64();
    let upload_peak = server.mem().peak;
    let upload_cpu = server.cpu_seconds() - upload_cpu;
    assert_eq!(uploaded.size_bytes, i64::try_from(size).expect("size"));

    let target_file = dir.path().join("downloaded.pdf");
    let before_download = server.mem();
    server.reset_peak();
    let download_cpu = server.cpu_seconds();
    let started = Instant::now();
    let downloaded = download_file(
        &target,
        &uploaded.name,
        0,
        &Destination::File(target_file.clone()),
        false,
    )
    .await
    .expect("download");
    std::process::Command::new("sync").status().expect("sync");
    let download_seconds = started.elapsed().as_secs_f64();
    let download_peak = server.mem().peak;
    let download_cpu = server.cpu_seconds() - download_cpu;
    assert_eq!(downloaded.sha256, uploaded.sha256);
    assert_eq!(
        std::fs::metadata(&target_file).expect("download").len(),
        size
    );
    server.stop().await;

    let rate = |seconds: f64| size_mib as f64 / seconds;
    let mut table = Table::with_header(&[
        "transfer",
        "seconds",
        "MiB/s",
        "÷ cp",
        "server CPU seconds",
        "server RSS before → peak",
    ]);
    table.row(vec![
        "cp".into(),
        format!("{cp_seconds:.2}"),
        format!("{:.0}", rate(cp_seconds)),
        "1.00".into(),
        "—".into(),
        "—".into(),
    ]);
    for (what, seconds, cpu, before, peak) in [
        (
            "upload (reestr upload)",
            upload_seconds,
            upload_cpu,
            before_upload.rss,
            upload_peak,
        ),
        (
            "download (reestr download)",
            download_seconds,
            download_cpu,
            before_download.rss,
            download_peak,
        ),
    ] {
        table.row(vec![
            what.into(),
            format!("{seconds:.2}"),
            format!("{:.0}", rate(seconds)),
            format!("{:.2}", cp_seconds / seconds),
            format!("{cpu:.2}"),
            format!("{} → {}", mib(before), mib(peak)),
        ]);
    }
    table.row(vec![
        "of the upload: the client's SHA-256 pass".into(),
        format!("{hash_seconds:.2}"),
        format!("{:.0}", rate(hash_seconds)),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    table.print();
    let mut goals = Table::default();
    for (what, seconds) in [("upload", upload_seconds), ("download", download_seconds)] {
        let ratio = cp_seconds / seconds;
        goals.add(
            format!("{what} MiB/s ÷ cp MiB/s"),
            format!("{ratio:.2}"),
            format!("≥ 0.5: {}", verdict(ratio >= 0.5)),
        );
    }
    for (what, before, peak) in [
        ("upload", before_upload.rss, upload_peak),
        ("download", before_download.rss, download_peak),
    ] {
        let growth = peak.saturating_sub(before);
        goals.add(
            format!("server RSS growth during the {what}"),
            mib(growth),
            format!(
                "flat (< 64 MiB for {size_mib} MiB): {}",
                verdict(growth < 64 << 20)
            ),
        );
    }
    goals.print();
}
