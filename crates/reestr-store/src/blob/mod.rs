//! Document content: the bytes of the design-documentation documents, in a local directory or
//! an S3 bucket, through `object_store`. No database is involved here: the caller keeps each
//! upload's committed offset and the document rows, and hands this module what they say.
//!
//! # Store URLs
//!
//! [`Blobs::open`] takes the `--document-store` flag: none for `{data_dir}/documents`,
//! `file:///absolute/path` for another local directory, `s3://bucket/optional/prefix` for S3
//! (settings from the standard `AWS_*` environment variables and from the URL's query, e.g.
//! `?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true`; see [`Blobs::open`]).
//! [`Blobs::describe`] names the store for the logs, without secrets.
//!
//! # Layout
//!
//! Under the directory or the key prefix:
//!
//! - `content/sha256/{first 2 hex digits}/{64 hex digits}`: finished content, addressed by
//!   its SHA-256. Identical content is stored once: committing content whose object exists
//!   only drops the upload's staging.
//! - `uploads/{upload_id}/{start offset, 20 digits}`: the staging of an upload, one *segment*
//!   per upload stream.
//!
//! # Segments
//!
//! An upload can be interrupted and resumed (the model of Google's ByteStream
//! `Write`/`QueryWriteStatus`), and object stores cannot append. So each stream writes a new
//! object, its segment, named by the offset it starts at ([`Blobs::segment`]); when the stream
//! ends, normally or because the client went away, [`SegmentWriter::finish`] keeps the bytes
//! received and says how many. The caller records the new committed offset. The bytes that
//! count are, for segments starting at `s_0 = 0 < s_1 < … < s_n` and a committed size `z`,
//! those of segment `i` from `s_i` up to `s_{i+1}` (or `z` for the last): a segment may hold
//! more, from a stream that was persisted further than the database recorded; the surplus
//! is ignored. A resumed stream continues the hash from [`Blobs::rehash`], which reads the
//! counted bytes back; [`Blobs::segments`] lists what is staged. [`Blobs::commit`] makes the
//! content object: one segment holding exactly the content is renamed (a file rename on a
//! local disk, a server-side copy on S3; its bytes are not read again), several are streamed
//! into the content object, checking size and hash on the way. [`Blobs::discard`] drops an
//! upload's staging.
//!
//! # Memory
//!
//! A [`SegmentWriter`] copies what it receives into a buffer of [`PART_SIZE`] bytes (5 MiB,
//! the smallest part S3 takes); a full buffer is sent as a part of a multipart upload while
//! the next fills, with at most [`PARTS_IN_FLIGHT`] part under way. One writer therefore holds
//! at most [`MEMORY_BOUND`] = `PART_SIZE × (PARTS_IN_FLIGHT + 1)` = 10 MiB, whatever the size
//! of the document, and [`SegmentWriter::in_memory`] says how much it holds now. Readers
//! ([`Blobs::read`], and the read-back of [`Blobs::rehash`] and [`Blobs::commit`]) stream:
//! one chunk of at most [`READ_CHUNK`] bytes from a local file, or what the HTTP body
//! delivers from S3, at a time.
//!
//! # Crashes
//!
//! Every object appears whole or not at all: a plain put or a multipart upload is published
//! by a rename of a staging file on a local disk (`{name}#{n}` beside it, and fsynced first)
//! and by the completion of the upload on S3; renaming a segment into place is one atomic
//! rename locally. A crash leaves at worst staging that nothing refers to: segments of an
//! upload (removed by [`Blobs::discard`] when the caller expires it), a local `#n` staging
//! file (never listed), or an incomplete S3 multipart upload (for the bucket's lifecycle rule
//! that aborts incomplete multipart uploads). A commit interrupted after its content object
//! was made is finished by committing again: the content exists, so only staging is dropped.

mod error;
mod open;
mod writer;

#[cfg(test)]
mod tests;

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload,
};
use reestr_domain::Error;
use sha2::{Digest, Sha256};

use error::store_err;
pub use writer::SegmentWriter;

/// The size of the parts a [`SegmentWriter`] uploads (all but the last of an object): 5 MiB,
/// the smallest S3 accepts.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// How many parts one [`SegmentWriter`] uploads at a time, while its buffer fills again.
pub const PARTS_IN_FLIGHT: usize = 1;

/// The most one [`SegmentWriter`] holds in memory: its buffer and the parts under way.
pub const MEMORY_BOUND: usize = PART_SIZE * (PARTS_IN_FLIGHT + 1);

/// The largest chunk read from a local file at a time.
pub const READ_CHUNK: usize = 256 * 1024;

/// The SHA-256 of no bytes, the name of the empty document's content.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The document content store (see the [module documentation](self)). Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    description: Arc<str>,
    /// The directory of a local store, to remove an upload's emptied directory.
    local_root: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Blobs").field(&self.description).finish()
    }
}

/// One staged segment of an upload, as [`Blobs::segments`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The offset in the document of the segment's first byte.
    pub offset: u64,
    /// How many bytes the segment holds.
    pub size: u64,
}

/// `content/sha256/ab/ab…`.
fn content_path(sha256: &str) -> Path {
    Path::from_iter(["content", "sha256", &sha256[..2], sha256])
}

/// `uploads/{upload_id}`.
fn upload_dir(upload_id: &str) -> Path {
    Path::from_iter(["uploads", upload_id])
}

/// `uploads/{upload_id}/{offset:020}`.
fn segment_path(upload_id: &str, offset: u64) -> Path {
    upload_dir(upload_id).join(format!("{offset:020}").as_str())
}

/// What the errors about a content object name.
fn content_resource(sha256: &str) -> String {
    format!("document content sha256:{sha256}")
}

/// What the errors about an upload's segment name.
fn segment_resource(upload_id: &str, offset: u64) -> String {
    format!("upload {upload_id} (segment at offset {offset})")
}

/// Refuses an upload id that is not 1 to 64 of `A-Z a-z 0-9 _ -`: it becomes a path segment.
fn check_upload_id(upload_id: &str) -> Result<(), Error> {
    let valid = (1..=64).contains(&upload_id.len())
        && upload_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "upload_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
        ))
    }
}

/// A SHA-256 in hex, as the lowercase the layout uses.
fn check_sha256(sha256_hex: &str) -> Result<String, Error> {
    if sha256_hex.len() == 64 && sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha256_hex.to_ascii_lowercase())
    } else {
        Err(Error::invalid("sha256", "must be 64 hexadecimal digits"))
    }
}

/// The bytes that count of each segment, as (start offset, length), given the segments'
/// start offsets and the committed size (see the module documentation). Segments that count
/// no byte are left out. Offsets that do not start at 0, do not strictly ascend or pass the
/// size are the caller's fault: an internal error.
fn counted(upload_id: &str, segments: &[u64], size: u64) -> Result<Vec<(u64, u64)>, Error> {
    let bad = |why: &str| {
        Error::Internal(format!(
            "upload {upload_id}: segments {segments:?} for {size} bytes: {why}"
        ))
    };
    match segments.first() {
        None if size > 0 => return Err(bad("no segment holds the bytes")),
        Some(&first) if first != 0 => return Err(bad("the first does not start at 0")),
        _ => {}
    }
    let mut ranges = Vec::with_capacity(segments.len());
    for (i, &start) in segments.iter().enumerate() {
        let next = segments.get(i + 1).copied();
        if next.is_some_and(|next| next <= start) || start > size {
            return Err(bad("the offsets do not ascend within the size"));
        }
        let end = next.unwrap_or(size).min(size);
        if end > start {
            ranges.push((start, end - start));
        }
    }
    Ok(ranges)
}

/// The internal error of a segment that holds fewer bytes than count: the staging lost what
/// the caller recorded.
fn short_segment(upload_id: &str, start: u64, read: u64, len: u64) -> Error {
    Error::Internal(format!(
        "{} holds {read} bytes, fewer than the {len} that count",
        segment_resource(upload_id, start)
    ))
}

impl Blobs {
    /// The store, for the logs: its kind and place, never a secret.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// A writer for the segment of upload `upload_id` that starts at `offset` (the upload's
    /// committed offset when the stream began). It replaces a segment staged before at the
    /// same offset once it is [finished](SegmentWriter::finish), not before.
    pub fn segment(&self, upload_id: &str, offset: u64) -> Result<SegmentWriter, Error> {
        check_upload_id(upload_id)?;
        Ok(SegmentWriter::new(
            Arc::clone(&self.store),
            segment_path(upload_id, offset),
            segment_resource(upload_id, offset),
        ))
    }

    /// The segments staged for upload `upload_id`, by ascending offset (none for an unknown
    /// upload).
    pub async fn segments(&self, upload_id: &str) -> Result<Vec<Segment>, Error> {
        check_upload_id(upload_id)?;
        let dir = upload_dir(upload_id);
        let mut listed = self.store.list(Some(&dir));
        let mut segments = Vec::new();
        while let Some(meta) = listed
            .try_next()
            .await
            .map_err(|e| store_err(e, || format!("upload {upload_id}")))?
        {
            let Some(mut rest) = meta.location.prefix_match(&dir) else {
                continue;
            };
            let (Some(name), None) = (rest.next(), rest.next()) else {
                continue;
            };
            let name = name.as_ref();
            if name.len() == 20
                && name.bytes().all(|b| b.is_ascii_digit())
                && let Ok(offset) = name.parse()
            {
                segments.push(Segment {
                    offset,
                    size: meta.size,
                });
            }
        }
        segments.sort_by_key(|s| s.offset);
        Ok(segments)
    }

    /// The SHA-256 state after the first `up_to` bytes of upload `upload_id`, read back from
    /// its segments (start offsets, ascending, the first 0), so that a resumed stream goes on
    /// hashing. A segment that holds fewer bytes than count is an internal error.
    pub async fn rehash(
        &self,
        upload_id: &str,
        segments: &[u64],
        up_to: u64,
    ) -> Result<Sha256, Error> {
        check_upload_id(upload_id)?;
        let mut hasher = Sha256::new();
        for (start, len) in counted(upload_id, segments, up_to)? {
            let mut chunks = self.segment_chunks(upload_id, start, len).await?;
            let mut read = 0;
            while let Some(chunk) = chunks.try_next().await? {
                read += chunk.len() as u64;
                hasher.update(&chunk);
            }
            if read != len {
                return Err(short_segment(upload_id, start, read, len));
            }
        }
        Ok(hasher)
    }

    /// The bytes of the segment of `upload_id` starting at `start` that count, `len` of them
    /// (fewer if the segment holds fewer: see [`short_segment`]).
    async fn segment_chunks(
        &self,
        upload_id: &str,
        start: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        self.get(
            &segment_path(upload_id, start),
            0..len,
            segment_resource(upload_id, start),
        )
        .await
    }

    /// Makes the content object of upload `upload_id` — its segments (start offsets,
    /// ascending, the first 0) hold `size` bytes whose SHA-256 is `sha256_hex` — and drops the
    /// upload's staging. Content that exists already is not written again. One segment
    /// holding exactly `size` bytes is renamed into place without being read (the caller
    /// checked size and hash while it streamed); several are concatenated, and their bytes
    /// must have that size and hash, or nothing is made (an internal error).
    pub async fn commit(
        &self,
        upload_id: &str,
        segments: &[u64],
        size: u64,
        sha256_hex: &str,
    ) -> Result<(), Error> {
        check_upload_id(upload_id)?;
        let sha256 = check_sha256(sha256_hex)?;
        let ranges = counted(upload_id, segments, size)?;
        let content = content_path(&sha256);
        if !self
            .exists_at(&content, || content_resource(&sha256))
            .await?
        {
            let whole_segment = match ranges.as_slice() {
                &[(0, len)] => self.segment_size(upload_id, 0).await? == len,
                _ => false,
            };
            if ranges.is_empty() {
                self.put_empty(&content, &sha256).await?;
            } else if whole_segment {
                self.store
                    .rename(&segment_path(upload_id, 0), &content)
                    .await
                    .map_err(|e| store_err(e, || segment_resource(upload_id, 0)))?;
            } else {
                self.concatenate(upload_id, &ranges, size, &sha256, content)
                    .await?;
            }
        }
        self.discard(upload_id).await
    }

    async fn put_empty(&self, content: &Path, sha256: &str) -> Result<(), Error> {
        if sha256 != EMPTY_SHA256 {
            return Err(Error::Internal(format!(
                "empty content committed as sha256:{sha256}"
            )));
        }
        self.store
            .put_opts(content, PutPayload::new(), PutOptions::default())
            .await
            .map_err(|e| store_err(e, || content_resource(sha256)))?;
        Ok(())
    }

    async fn segment_size(&self, upload_id: &str, offset: u64) -> Result<u64, Error> {
        let meta = self
            .store
            .head(&segment_path(upload_id, offset))
            .await
            .map_err(|e| store_err(e, || segment_resource(upload_id, offset)))?;
        Ok(meta.size)
    }

    /// Streams the counted bytes of the segments into the content object, checking their
    /// size and hash before the object is completed.
    async fn concatenate(
        &self,
        upload_id: &str,
        ranges: &[(u64, u64)],
        size: u64,
        sha256: &str,
        content: Path,
    ) -> Result<(), Error> {
        let mut writer =
            SegmentWriter::new(Arc::clone(&self.store), content, content_resource(sha256));
        let mut hasher = Sha256::new();
        let copied: Result<(), Error> = async {
            for &(start, len) in ranges {
                let mut chunks = self.segment_chunks(upload_id, start, len).await?;
                let mut read = 0;
                while let Some(chunk) = chunks.try_next().await? {
                    read += chunk.len() as u64;
                    hasher.update(&chunk);
                    writer.write(chunk).await?;
                }
                if read != len {
                    return Err(short_segment(upload_id, start, read, len));
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            writer.abort().await;
            return Err(e);
        }
        let actual = hex::encode(hasher.finalize());
        if writer.written() != size || actual != sha256 {
            let written = writer.written();
            writer.abort().await;
            return Err(Error::Internal(format!(
                "upload {upload_id}: the segments hold {written} bytes of sha256:{actual}, \
                 not the {size} bytes of sha256:{sha256} committed"
            )));
        }
        writer.finish().await?;
        Ok(())
    }

    /// Deletes all staging of upload `upload_id` (an expired or failed upload, or one just
    /// committed). Nothing staged is no error.
    pub async fn discard(&self, upload_id: &str) -> Result<(), Error> {
        check_upload_id(upload_id)?;
        let resource = || format!("upload {upload_id}");
        let dir = upload_dir(upload_id);
        let staged = self
            .store
            .list(Some(&dir))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(staged);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(e, resource)),
            }
        }
        if let Some(root) = &self.local_root {
            // The upload's emptied directory; another stream may have staged again meanwhile,
            // and then the directory stays.
            let _ = tokio::fs::remove_dir(root.join("uploads").join(upload_id)).await;
        }
        Ok(())
    }

    /// Streams the bytes `range` of the content `sha256_hex`. A range past the end is cut at
    /// the end; one that starts at or past it is an invalid argument (`range`). Missing
    /// content is NOT_FOUND.
    pub async fn read(
        &self,
        sha256_hex: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let sha256 = check_sha256(sha256_hex)?;
        if range.start > range.end {
            return Err(Error::invalid("range", "starts after it ends"));
        }
        if range.is_empty() {
            self.size(&sha256).await?;
            return Ok(stream::empty().boxed());
        }
        let path = content_path(&sha256);
        match self
            .get(&path, range.clone(), content_resource(&sha256))
            .await
        {
            Ok(chunks) => Ok(chunks),
            Err(Error::NotFound { resource }) => Err(Error::NotFound { resource }),
            Err(e) => {
                // Say so when the range is what was wrong.
                let size = self.size(&sha256).await?;
                if range.start >= size {
                    Err(Error::invalid(
                        "range",
                        format!("starts at {}, past the content's {size} bytes", range.start),
                    ))
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Whether the content `sha256_hex` is stored.
    pub async fn exists(&self, sha256_hex: &str) -> Result<bool, Error> {
        let sha256 = check_sha256(sha256_hex)?;
        self.exists_at(&content_path(&sha256), || content_resource(&sha256))
            .await
    }

    /// The size in bytes of the content `sha256_hex`; NOT_FOUND when it is not stored.
    pub async fn size(&self, sha256_hex: &str) -> Result<u64, Error> {
        let sha256 = check_sha256(sha256_hex)?;
        let meta = self
            .store
            .head(&content_path(&sha256))
            .await
            .map_err(|e| store_err(e, || content_resource(&sha256)))?;
        Ok(meta.size)
    }

    async fn exists_at(
        &self,
        path: &Path,
        resource: impl FnOnce() -> String,
    ) -> Result<bool, Error> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_err(e, resource)),
        }
    }

    /// Streams the bytes `range` (not empty) of the object at `path`.
    async fn get(
        &self,
        path: &Path,
        range: Range<u64>,
        resource: String,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(path, options)
            .await
            .map_err(|e| store_err(e, || resource.clone()))?;
        Ok(into_stream(result, resource))
    }
}

/// The bytes of a get: from a local file in chunks of [`READ_CHUNK`] (object_store's own
/// reader takes 8 KiB a time), or the HTTP body as it comes.
fn into_stream(result: GetResult, resource: String) -> BoxStream<'static, Result<Bytes, Error>> {
    match result.payload {
        GetResultPayload::File(file, path) => {
            file_chunks(file, path, result.range, resource).boxed()
        }
        GetResultPayload::Stream(chunks) => chunks
            .map_err(move |e| store_err(e, || resource.clone()))
            .boxed(),
    }
}

fn file_chunks(
    file: std::fs::File,
    path: PathBuf,
    range: Range<u64>,
    resource: String,
) -> impl futures::Stream<Item = Result<Bytes, Error>> + Send + 'static {
    let path = Arc::new(path);
    let resource: Arc<str> = resource.into();
    stream::try_unfold((file, range.start), move |(mut file, at)| {
        let (end, path, resource) = (range.end, Arc::clone(&path), Arc::clone(&resource));
        async move {
            if at >= end {
                return Ok(None);
            }
            let len = (end - at).min(READ_CHUNK as u64) as usize;
            let (file, read) = tokio::task::spawn_blocking(move || {
                let mut chunk = vec![0; len];
                let read = file
                    .seek(SeekFrom::Start(at))
                    .and_then(|_| file.read_exact(&mut chunk))
                    .map(|()| chunk);
                (file, read)
            })
            .await
            .map_err(|e| Error::Internal(format!("{resource}: reading failed: {e}")))?;
            let chunk = read.map_err(|e| {
                Error::Internal(format!("document store: reading {}: {e}", path.display()))
            })?;
            Ok(Some((Bytes::from(chunk), (file, at + len as u64))))
        }
    })
}
