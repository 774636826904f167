use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::local::LocalFileSystem;
use object_store::throttle::{ThrottleConfig, ThrottledStore};

use super::*;

const MIB: usize = 1024 * 1024;

/// `len` bytes that differ from any other call's with another seed (xorshift).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` as the segment of `upload_id` at `offset`, in chunks of odd sizes.
async fn write_segment(blobs: &Blobs, upload_id: &str, offset: u64, bytes: &[u8]) -> u64 {
    let mut writer = blobs.segment(upload_id, offset).unwrap();
    for chunk in bytes.chunks(64 * 1024 + 13) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    writer.finish().await.unwrap()
}

async fn read_all(blobs: &Blobs, sha256: &str, range: Range<u64>) -> Vec<u8> {
    let mut chunks = blobs.read(sha256, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = chunks.try_next().await.unwrap() {
        out.extend_from_slice(&chunk);
    }
    out
}

fn local() -> (tempfile::TempDir, Blobs) {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet: open makes it.
    let blobs = Blobs::open(None, &dir.path().join("data").join("documents")).unwrap();
    (dir, blobs)
}

/// Every content object stored, as paths relative to the store.
async fn content_objects(blobs: &Blobs) -> Vec<String> {
    let mut found: Vec<String> = blobs
        .store
        .list(Some(&Path::from("content")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    found.sort();
    found
}

/// The whole round trip on any store: three segments of odd sizes, resumed by rehashing,
/// committed, read back whole and across segment boundaries, committed again as one segment
/// (stored once), a single-segment commit of other content, discard, missing content.
async fn round_trip(blobs: &Blobs) {
    let sizes = [5 * MIB + 7, 3 * MIB, 123];
    let whole = data(sizes.iter().sum(), 1);
    let sha = sha256_hex(&whole);
    let (s1, s2) = (sizes[0] as u64, (sizes[0] + sizes[1]) as u64);
    let parts = [
        &whole[..sizes[0]],
        &whole[sizes[0]..sizes[0] + sizes[1]],
        &whole[sizes[0] + sizes[1]..],
    ];

    assert_eq!(
        write_segment(blobs, "up-1", 0, parts[0]).await,
        sizes[0] as u64
    );
    // The second stream resumes at s1: the hash so far is read back.
    let resumed = blobs.rehash("up-1", &[0], s1).await.unwrap();
    assert_eq!(resumed.finalize(), Sha256::digest(parts[0]));
    assert_eq!(
        write_segment(blobs, "up-1", s1, parts[1]).await,
        sizes[1] as u64
    );
    // The third stream resumes at s2 and goes on hashing what it receives.
    let mut hasher = blobs.rehash("up-1", &[0, s1], s2).await.unwrap();
    hasher.update(parts[2]);
    assert_eq!(hex::encode(hasher.finalize()), sha);
    assert_eq!(
        write_segment(blobs, "up-1", s2, parts[2]).await,
        sizes[2] as u64
    );
    assert_eq!(
        blobs.segments("up-1").await.unwrap(),
        vec![
            Segment {
                offset: 0,
                size: sizes[0] as u64
            },
            Segment {
                offset: s1,
                size: sizes[1] as u64
            },
            Segment {
                offset: s2,
                size: sizes[2] as u64
            },
        ]
    );

    let total = whole.len() as u64;
    assert!(!blobs.exists(&sha).await.unwrap());
    blobs
        .commit("up-1", &[0, s1, s2], total, &sha)
        .await
        .unwrap();
    assert!(blobs.exists(&sha).await.unwrap());
    assert_eq!(blobs.size(&sha).await.unwrap(), total);
    assert_eq!(blobs.segments("up-1").await.unwrap(), vec![]);

    assert_eq!(read_all(blobs, &sha, 0..total).await, whole);
    for range in [s1 - 10..s1 + 10, s1 - 1..s2 + 1, 17..s2 + 100, s2..total] {
        let (start, end) = (range.start as usize, range.end as usize);
        assert_eq!(
            read_all(blobs, &sha, range).await,
            &whole[start..end],
            "{start}..{end}"
        );
    }
    // A range past the end is cut there; one starting at the end is refused.
    assert_eq!(read_all(blobs, &sha, s2..total + 50).await, parts[2]);
    assert_eq!(read_all(blobs, &sha, 5..5).await, Vec::<u8>::new());
    let past = blobs.read(&sha, total..total + 1).await.err().unwrap();
    assert!(matches!(past, Error::InvalidArgument(_)), "{past:?}");

    // The same content again, in one segment: stored once, the staging dropped.
    assert_eq!(write_segment(blobs, "up-2", 0, &whole).await, total);
    blobs.commit("up-2", &[0], total, &sha).await.unwrap();
    assert_eq!(content_objects(blobs).await.len(), 1);
    assert_eq!(blobs.segments("up-2").await.unwrap(), vec![]);
    assert_eq!(read_all(blobs, &sha, 0..total).await, whole);

    // Other content in one segment holding exactly the content: renamed into place.
    let other = data(6 * MIB + 1, 2);
    let other_sha = sha256_hex(&other);
    write_segment(blobs, "up-3", 0, &other).await;
    blobs
        .commit("up-3", &[0], other.len() as u64, &other_sha)
        .await
        .unwrap();
    assert_eq!(blobs.segments("up-3").await.unwrap(), vec![]);
    assert!(
        blobs
            .store
            .head(&segment_path("up-3", 0))
            .await
            .is_err_and(|e| matches!(e, object_store::Error::NotFound { .. }))
    );
    assert_eq!(
        read_all(blobs, &other_sha, 0..other.len() as u64).await,
        other
    );
    assert_eq!(content_objects(blobs).await.len(), 2);

    // Discard drops every segment of an upload.
    write_segment(blobs, "up-4", 0, &other[..1000]).await;
    write_segment(blobs, "up-4", 1000, &other[1000..3000]).await;
    assert_eq!(blobs.segments("up-4").await.unwrap().len(), 2);
    blobs.discard("up-4").await.unwrap();
    assert_eq!(blobs.segments("up-4").await.unwrap(), vec![]);
    blobs.discard("up-4").await.unwrap();

    // Missing content is NOT_FOUND.
    let missing = sha256_hex(b"never stored");
    assert!(!blobs.exists(&missing).await.unwrap());
    let err = blobs.size(&missing).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = blobs.read(&missing, 0..10).await.err().unwrap();
    assert_eq!(
        err,
        Error::NotFound {
            resource: format!("document content sha256:{missing}")
        }
    );
}

#[tokio::test]
async fn local_round_trip() {
    let (dir, blobs) = local();
    round_trip(&blobs).await;
    let root = dir.path().join("data").join("documents");
    // The layout on disk, and no upload directory left behind.
    let sha = sha256_hex(&data(6 * MIB + 1, 2));
    assert!(
        root.join("content/sha256")
            .join(&sha[..2])
            .join(&sha)
            .is_file()
    );
    let uploads: Vec<_> = std::fs::read_dir(root.join("uploads"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(uploads.is_empty(), "{uploads:?}");
}

#[tokio::test]
async fn a_single_segment_commit_renames_the_segment() {
    use std::os::unix::fs::MetadataExt;
    let (dir, blobs) = local();
    let root = dir.path().join("data").join("documents");
    let bytes = data(2 * MIB + 3, 3);
    let sha = sha256_hex(&bytes);
    write_segment(&blobs, "single", 0, &bytes).await;
    let staged = root.join("uploads/single/00000000000000000000");
    let inode = std::fs::metadata(&staged).unwrap().ino();

    blobs
        .commit("single", &[0], bytes.len() as u64, &sha)
        .await
        .unwrap();
    assert!(!staged.exists());
    let content = root.join("content/sha256").join(&sha[..2]).join(&sha);
    // The same file, not a copy of its bytes.
    assert_eq!(std::fs::metadata(&content).unwrap().ino(), inode);
    assert_eq!(std::fs::read(&content).unwrap(), bytes);
}

#[tokio::test]
async fn an_interrupted_stream_keeps_what_it_received() {
    let (_dir, blobs) = local();
    let whole = data(7 * MIB + 5, 4);
    let sha = sha256_hex(&whole);

    // The client goes away after 2.5 MiB: the server finishes the segment.
    let cut = 5 * MIB / 2;
    assert_eq!(
        write_segment(&blobs, "cut", 0, &whole[..cut]).await,
        cut as u64
    );
    assert_eq!(
        blobs.segments("cut").await.unwrap(),
        vec![Segment {
            offset: 0,
            size: cut as u64
        }]
    );

    // Resumed at what the segment holds.
    let mut hasher = blobs.rehash("cut", &[0], cut as u64).await.unwrap();
    hasher.update(&whole[cut..]);
    assert_eq!(hex::encode(hasher.finalize()), sha);
    write_segment(&blobs, "cut", cut as u64, &whole[cut..]).await;
    blobs
        .commit("cut", &[0, cut as u64], whole.len() as u64, &sha)
        .await
        .unwrap();
    assert_eq!(read_all(&blobs, &sha, 0..whole.len() as u64).await, whole);
}

#[tokio::test]
async fn bytes_a_segment_holds_past_the_next_start_do_not_count() {
    let (_dir, blobs) = local();
    let whole = data(3 * MIB, 5);
    let sha = sha256_hex(&whole);
    // The first stream was persisted up to 2 MiB, but only 1 MiB was recorded: the next
    // stream starts at 1 MiB.
    write_segment(&blobs, "over", 0, &whole[..2 * MIB]).await;
    let recorded = MIB as u64;
    let mut hasher = blobs.rehash("over", &[0], recorded).await.unwrap();
    hasher.update(&whole[MIB..]);
    assert_eq!(hex::encode(hasher.finalize()), sha);
    write_segment(&blobs, "over", recorded, &whole[MIB..]).await;
    // Only the first segment staged: it holds more than the committed size.
    blobs
        .commit("over", &[0, recorded], whole.len() as u64, &sha)
        .await
        .unwrap();
    assert_eq!(read_all(&blobs, &sha, 0..whole.len() as u64).await, whole);

    // One segment holding more than the content: concatenated (cut), not renamed.
    let short = &whole[..MIB + 1];
    let short_sha = sha256_hex(short);
    write_segment(&blobs, "longer", 0, &whole).await;
    blobs
        .commit("longer", &[0], short.len() as u64, &short_sha)
        .await
        .unwrap();
    assert_eq!(
        read_all(&blobs, &short_sha, 0..short.len() as u64).await,
        short
    );
}

#[tokio::test]
async fn a_commit_whose_bytes_do_not_match_makes_nothing() {
    let (_dir, blobs) = local();
    let bytes = data(MIB, 6);
    write_segment(&blobs, "bad", 0, &bytes[..1000]).await;
    write_segment(&blobs, "bad", 1000, &bytes[1000..]).await;
    let wrong = sha256_hex(b"something else");
    let err = blobs
        .commit("bad", &[0, 1000], bytes.len() as u64, &wrong)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    assert!(!blobs.exists(&wrong).await.unwrap());
    assert_eq!(content_objects(&blobs).await, Vec::<String>::new());
    // The staging stays, for the caller to discard.
    assert_eq!(blobs.segments("bad").await.unwrap().len(), 2);

    // Committing more bytes than are staged fails too, as does rehashing them.
    let sha = sha256_hex(&bytes);
    let err = blobs
        .commit("bad", &[0, 1000], bytes.len() as u64 + 1, &sha)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    let err = blobs
        .rehash("bad", &[0, 1000], bytes.len() as u64 + 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    // And offsets that make no sense are refused.
    for segments in [&[][..], &[5, 1000][..], &[0, 1000, 500][..]] {
        let err = blobs.rehash("bad", segments, 2000).await.unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{segments:?}: {err:?}");
    }
}

#[tokio::test]
async fn empty_content_commits() {
    let (_dir, blobs) = local();
    let mut writer = blobs.segment("empty", 0).unwrap();
    writer.write(Bytes::new()).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 0);
    assert_eq!(blobs.segments("empty").await.unwrap(), vec![]);
    assert_eq!(
        blobs.rehash("empty", &[0], 0).await.unwrap().finalize(),
        Sha256::digest(b"")
    );
    blobs.commit("empty", &[0], 0, EMPTY_SHA256).await.unwrap();
    assert_eq!(blobs.size(EMPTY_SHA256).await.unwrap(), 0);
    assert_eq!(read_all(&blobs, EMPTY_SHA256, 0..0).await, Vec::<u8>::new());
}

#[tokio::test]
async fn an_aborted_segment_leaves_what_was_there() {
    let (_dir, blobs) = local();
    write_segment(&blobs, "ab", 0, b"first stream").await;
    let mut writer = blobs.segment("ab", 0).unwrap();
    writer.write(Bytes::from(data(6 * MIB, 7))).await.unwrap();
    writer.abort().await;
    // A dropped writer is aborted too.
    let mut writer = blobs.segment("ab", 0).unwrap();
    writer.write(Bytes::from(data(6 * MIB, 8))).await.unwrap();
    drop(writer);
    assert_eq!(
        blobs.segments("ab").await.unwrap(),
        vec![Segment {
            offset: 0,
            size: 12
        }]
    );
    let hasher = blobs.rehash("ab", &[0], 12).await.unwrap();
    assert_eq!(hasher.finalize(), Sha256::digest(b"first stream"));
}

#[tokio::test]
async fn invalid_upload_ids_and_digests_are_refused() {
    let (_dir, blobs) = local();
    let long = "a".repeat(65);
    for id in ["", "../x", "a/b", "a b", "a.b", "ä", long.as_str()] {
        let field = |e: Error| match e {
            Error::InvalidArgument(v) => v[0].field.clone(),
            e => panic!("{id:?}: {e:?}"),
        };
        assert_eq!(field(blobs.segment(id, 0).err().unwrap()), "upload_id");
        assert_eq!(field(blobs.segments(id).await.unwrap_err()), "upload_id");
        assert_eq!(
            field(blobs.rehash(id, &[0], 0).await.unwrap_err()),
            "upload_id"
        );
        assert_eq!(
            field(blobs.commit(id, &[0], 0, EMPTY_SHA256).await.unwrap_err()),
            "upload_id"
        );
        assert_eq!(field(blobs.discard(id).await.unwrap_err()), "upload_id");
    }
    assert!(blobs.segment(&"A-z_9".repeat(12), 0).is_ok());
    for sha in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
        assert!(matches!(
            blobs.exists(sha).await.unwrap_err(),
            Error::InvalidArgument(_)
        ));
    }
    // Upper-case hex names the same content.
    assert!(!blobs.exists(&EMPTY_SHA256.to_uppercase()).await.unwrap());
}

#[tokio::test]
async fn a_writer_holds_at_most_its_bound() {
    const _: () = assert!(PART_SIZE >= 5 * 1024 * 1024 && MEMORY_BOUND <= 10 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    // Each part takes 30 ms to upload: a writer that did not wait for them would pile them up.
    let slow = ThrottledStore::new(
        LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
        ThrottleConfig {
            wait_put_per_call: Duration::from_millis(30),
            ..ThrottleConfig::default()
        },
    );
    let blobs = Blobs {
        store: Arc::new(slow),
        description: "slow".into(),
        local_root: None,
    };
    let chunk = Bytes::from(data(256 * 1024, 9));
    let mut writer = blobs.segment("big", 0).unwrap();
    let mut most = 0;
    for _ in 0..256 {
        writer.write(chunk.clone()).await.unwrap();
        most = most.max(writer.in_memory());
        assert!(writer.in_memory() <= MEMORY_BOUND, "{}", writer.in_memory());
    }
    // A part was under way while the next buffer filled.
    assert!(most > PART_SIZE, "{most}");
    assert_eq!(writer.finish().await.unwrap(), 64 * MIB as u64);
    assert_eq!(
        blobs.segments("big").await.unwrap(),
        vec![Segment {
            offset: 0,
            size: 64 * MIB as u64
        }]
    );
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let (_dir, blobs) = local();
    send(blobs.commit("a", &[0], 1, EMPTY_SHA256));
    send(blobs.rehash("a", &[0], 1));
    send(blobs.read(EMPTY_SHA256, 0..1));
    send(blobs.discard("a"));
    send(blobs.segments("a"));
    send(blobs.exists(EMPTY_SHA256));
    let mut writer = blobs.segment("a", 0).unwrap();
    send(writer.write(Bytes::new()));
    send(writer.finish());
}

#[test]
fn open_takes_file_and_s3_urls_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("elsewhere");
    let url = format!("file://{}", path.display());
    let blobs = Blobs::open(Some(&url), dir.path()).unwrap();
    assert!(path.is_dir());
    assert!(
        blobs.describe().contains("elsewhere"),
        "{}",
        blobs.describe()
    );

    for bad in [
        "",
        "/var/lib/reestr",
        "http://127.0.0.1:9000/bucket",
        "file:relative",
        "file:///tmp/x?query=1",
        "file://host/path",
        "s3://",
        "s3:///prefix",
        "s3://bucket?no_such_setting=1",
        "s3://bucket?bucket=other",
        "s3://key:secret@bucket",
        "gs://bucket",
    ] {
        match Blobs::open(Some(bad), dir.path()) {
            Err(Error::InvalidArgument(v)) => {
                assert_eq!(v[0].field, "--document-store", "{bad:?}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn describe_keeps_secrets_out() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(
        Some(
            "s3://docs/reestr/documents?endpoint=http://user:hunter2@127.0.0.1:9000\
             &region=us-east-1&allow_http=true&access_key_id=AKIDKEY&secret_access_key=SECRET",
        ),
        dir.path(),
    )
    .unwrap();
    let text = blobs.describe();
    assert!(text.starts_with("s3://docs/reestr/documents"), "{text}");
    assert!(
        text.contains("127.0.0.1:9000") && text.contains("us-east-1"),
        "{text}"
    );
    for secret in ["hunter2", "user", "AKIDKEY", "SECRET"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{blobs:?}").contains(secret));
    }
}

/// A moto S3 server on a free port, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run moto_server ({e}): the S3 tests need it; run `bash tests/run`, \
                     which installs it (PyPI: moto[server])"
                )
            });
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!(
                    "moto_server exited at once ({status}): is it installed? run \
                     `bash tests/run`, which installs it (PyPI: moto[server])"
                );
            }
            if moto
                .request("GET", "/", "")
                .is_ok_and(|(status, _)| status == 200)
            {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One plain HTTP/1.1 request: the status and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {response:.100}")))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_under_a_prefix() {
    let moto = Moto::start();
    let (status, body) = moto.request("PUT", "/reestr-docs", "").unwrap();
    assert_eq!(status, 200, "creating the bucket: {body}");
    let url = format!(
        "s3://reestr-docs/register/documents?endpoint=http://127.0.0.1:{}&region=us-east-1\
         &allow_http=true&access_key_id=testing&secret_access_key=testing",
        moto.port
    );
    let blobs = Blobs::open(Some(&url), std::path::Path::new("/nonexistent/unused")).unwrap();
    assert!(
        blobs
            .describe()
            .starts_with("s3://reestr-docs/register/documents")
    );

    round_trip(&blobs).await;

    // Every key is under the prefix, and no staging is left.
    let (status, listing) = moto.request("GET", "/reestr-docs?list-type=2", "").unwrap();
    assert_eq!(status, 200, "{listing}");
    let keys: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        assert!(
            key.starts_with("register/documents/content/sha256/"),
            "{key}"
        );
    }
}
