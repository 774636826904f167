//! [`SegmentWriter`]: one object written from a stream of chunks, in bounded memory.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, PutMultipartOptions, PutOptions, PutPayload};
use reestr_domain::Error;
use tokio::task::JoinSet;

use super::error::store_err;
use super::{PART_SIZE, PARTS_IN_FLIGHT};

/// Writes one object (an upload's segment, or a content object being concatenated) from the
/// chunks handed to [`SegmentWriter::write`], holding at most
/// [`MEMORY_BOUND`](super::MEMORY_BOUND) bytes however long the stream.
///
/// The chunks are copied into a buffer of [`PART_SIZE`] bytes; a full buffer becomes a part of
/// a multipart upload, sent in the background while the next one fills, with at most
/// [`PARTS_IN_FLIGHT`] parts under way (a write waits for one to finish otherwise). An object
/// that never fills one buffer is stored by one plain PUT at [`SegmentWriter::finish`].
/// Nothing is visible in the store before `finish` returns.
///
/// Dropping a writer without [`finish`](SegmentWriter::finish) or
/// [`abort`](SegmentWriter::abort) discards what it had received, like `abort` (the parts
/// already uploaded are removed in the background).
pub struct SegmentWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// What the errors name, e.g. `upload abc (segment at offset 0)`.
    what: String,
    /// The bytes not yet sent as a part; its capacity is [`PART_SIZE`] once anything came.
    buffer: BytesMut,
    /// The multipart upload, once a buffer filled.
    upload: Option<Box<dyn MultipartUpload>>,
    /// Parts under way; each yields its size.
    parts: JoinSet<Result<usize, object_store::Error>>,
    /// Bytes of the parts under way (counted until their task is joined).
    in_flight: usize,
    /// Bytes received.
    written: u64,
    /// Set by a failed write: the object can no longer be completed.
    failed: bool,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("path", &self.path.as_ref())
            .field("written", &self.written)
            .field("in_memory", &self.in_memory())
            .finish()
    }
}

impl SegmentWriter {
    pub(super) fn new(store: Arc<dyn ObjectStore>, path: Path, what: String) -> Self {
        Self {
            store,
            path,
            what,
            buffer: BytesMut::new(),
            upload: None,
            parts: JoinSet::new(),
            in_flight: 0,
            written: 0,
            failed: false,
        }
    }

    /// Bytes received so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes this writer holds in memory now: its buffer's capacity plus the parts being
    /// uploaded. Never more than [`MEMORY_BOUND`](super::MEMORY_BOUND) between calls.
    pub fn in_memory(&self) -> usize {
        self.buffer.capacity() + self.in_flight
    }

    /// Appends `data`. Waits while [`PARTS_IN_FLIGHT`] parts are being uploaded and the buffer
    /// is full. After an error the writer is spent: [`finish`](Self::finish) fails too.
    pub async fn write(&mut self, data: Bytes) -> Result<(), Error> {
        if self.failed {
            return Err(self.spent());
        }
        let result = self.append(data).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn append(&mut self, mut data: Bytes) -> Result<(), Error> {
        // Surface the failure of a part sent earlier as soon as it is known.
        while let Some(joined) = self.parts.try_join_next() {
            self.joined(joined)?;
        }
        while !data.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = BytesMut::with_capacity(PART_SIZE);
            }
            let take = (PART_SIZE - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data.split_to(take));
            self.written += take as u64;
            if self.buffer.len() == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends the buffer as the next part, once fewer than [`PARTS_IN_FLIGHT`] are under way.
    async fn send_part(&mut self) -> Result<(), Error> {
        while self.parts.len() >= PARTS_IN_FLIGHT {
            self.join_one().await?;
        }
        let upload = match self.upload.take() {
            Some(upload) => upload,
            None => self
                .store
                .put_multipart_opts(&self.path, PutMultipartOptions::default())
                .await
                .map_err(|e| store_err(e, || self.what.clone()))?,
        };
        let upload = self.upload.insert(upload);
        let part = std::mem::take(&mut self.buffer).freeze();
        let len = part.len();
        let put = upload.put_part(PutPayload::from(part));
        self.in_flight += len;
        self.parts.spawn(async move { put.await.map(|()| len) });
        Ok(())
    }

    /// Waits for one part under way to finish.
    async fn join_one(&mut self) -> Result<(), Error> {
        match self.parts.join_next().await {
            Some(joined) => self.joined(joined),
            None => Ok(()),
        }
    }

    fn joined(
        &mut self,
        joined: Result<Result<usize, object_store::Error>, tokio::task::JoinError>,
    ) -> Result<(), Error> {
        match joined {
            Ok(Ok(len)) => {
                self.in_flight -= len;
                Ok(())
            }
            Ok(Err(e)) => Err(store_err(e, || self.what.clone())),
            Err(e) => Err(Error::Internal(format!(
                "{}: uploading a part failed: {e}",
                self.what
            ))),
        }
    }

    fn spent(&self) -> Error {
        Error::Internal(format!(
            "{}: the document store failed earlier in this stream",
            self.what
        ))
    }

    /// Makes what was written the object (atomically: it was not visible before, and is
    /// whole now) and returns its size in bytes. A writer that received nothing writes no
    /// object and returns 0. After a failed write, discards everything and fails.
    pub async fn finish(mut self) -> Result<u64, Error> {
        if self.failed {
            self.discard().await;
            return Err(self.spent());
        }
        if let Err(e) = self.complete().await {
            self.discard().await;
            return Err(e);
        }
        Ok(self.written)
    }

    async fn complete(&mut self) -> Result<(), Error> {
        if self.upload.is_none() {
            if self.written > 0 {
                let data = std::mem::take(&mut self.buffer).freeze();
                self.store
                    .put_opts(&self.path, PutPayload::from(data), PutOptions::default())
                    .await
                    .map_err(|e| store_err(e, || self.what.clone()))?;
            }
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.parts.is_empty() {
            self.join_one().await?;
        }
        if let Some(upload) = &mut self.upload {
            upload
                .complete()
                .await
                .map_err(|e| store_err(e, || self.what.clone()))?;
        }
        self.upload = None;
        Ok(())
    }

    /// Discards what was written: no object is made (an object already at the place, from an
    /// earlier stream, stays as it was).
    pub async fn abort(mut self) {
        self.discard().await;
    }

    async fn discard(&mut self) {
        self.parts.shutdown().await;
        self.in_flight = 0;
        self.buffer = BytesMut::new();
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(object = %self.path, error = %e, "aborting a multipart upload failed");
        }
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        // The part tasks end with the JoinSet. A local upload removes its staging file when
        // dropped; an S3 one keeps its parts until aborted, so abort it in the background.
        if let Some(mut upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let path = self.path.clone();
            runtime.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(object = %path, error = %e, "aborting a multipart upload failed");
                }
            });
        }
    }
}
