//! Blob uploads, streamed from disk: the file is read in pieces while they are sent, chunked
//! PATCHes with `Content-Range` where the registry takes them, each retried and resumed from the
//! registry's own upload status after a failure, else one streamed PUT. The sha256 is computed on
//! the way and checked before the upload is committed. Memory stays at a few read buffers per blob,
//! whatever its size.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use backon::BackoffBuilder;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{ok_or_status, Payload, Registry};
use crate::error::Result;
use crate::net::registry_backoff;

/// Failures of one upload since its last progress, and the pauses left before it gives up.
struct Tries {
    failures: u32,
    pauses: backon::ExponentialBackoff,
}

impl Tries {
    fn new() -> Tries {
        Tries {
            failures: 0,
            pauses: registry_backoff().build(),
        }
    }

    /// The pause before the next attempt; none when the attempts ran out.
    fn failed(&mut self) -> Option<std::time::Duration> {
        self.failures += 1;
        self.pauses.next()
    }
}

/// Bytes per PATCH: what a failed chunk costs again at most. Above ECR's 5 MiB part minimum.
const CHUNK: u64 = 16 << 20;
/// One read from disk while a body streams.
const READ: usize = 256 << 10;

/// The sha256 of a file's bytes in order, fed by whichever attempt sends a range first. Each byte
/// position is hashed once, so ranges sent again after a failure leave it as it is.
#[derive(Default)]
pub(crate) struct Cursor {
    hasher: Sha256,
    at: u64,
}

impl Cursor {
    fn feed(&mut self, pos: u64, bytes: &[u8]) {
        let end = pos + bytes.len() as u64;
        if pos <= self.at && self.at < end {
            self.hasher.update(&bytes[(self.at - pos) as usize..]);
            self.at = end;
        }
    }

    /// The digest of the whole file: what no attempt sent (a registry that claims bytes it was not
    /// sent) is read from disk.
    async fn finish(&mut self, path: &Path, size: u64) -> Result<String> {
        if self.at < size {
            let mut file = tokio::fs::File::open(path).await?;
            file.seek(SeekFrom::Start(self.at)).await?;
            let mut buf = vec![0u8; READ];
            while self.at < size {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let pos = self.at;
                self.feed(pos, &buf[..n]);
            }
        }
        Ok(format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.hasher).finalize())
        ))
    }
}

/// `len` bytes of the file at `offset`, read as the body is sent.
pub(super) fn file_body(
    path: PathBuf,
    offset: u64,
    len: u64,
    seen: Option<Arc<Mutex<Cursor>>>,
) -> reqwest::Body {
    struct Reading {
        path: PathBuf,
        file: Option<tokio::fs::File>,
        pos: u64,
        end: u64,
        seen: Option<Arc<Mutex<Cursor>>>,
    }
    let start = Reading {
        path,
        file: None,
        pos: offset,
        end: offset + len,
        seen,
    };
    let pieces = futures_util::stream::try_unfold(start, |mut r| async move {
        if r.pos >= r.end {
            return Ok::<_, std::io::Error>(None);
        }
        let file = match &mut r.file {
            Some(f) => f,
            None => {
                let mut f = tokio::fs::File::open(&r.path).await?;
                f.seek(SeekFrom::Start(r.pos)).await?;
                r.file.insert(f)
            }
        };
        let mut buf = vec![0u8; READ.min((r.end - r.pos) as usize)];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} ended before byte {}", r.path.display(), r.end),
            ));
        }
        buf.truncate(n);
        if let Some(seen) = &r.seen {
            seen.lock().unwrap().feed(r.pos, &buf);
        }
        r.pos += n as u64;
        Ok(Some((buf, r)))
    });
    reqwest::Body::wrap_stream(pieces)
}

/// Where a blob upload stands.
enum Upload {
    /// No session (the first, or the last one was lost).
    Fresh,
    /// A session that holds the first `offset` bytes.
    At { location: String, offset: u64 },
    /// A session whose last request failed: ask it how much it holds.
    Lost { location: String },
}

impl Registry {
    /// Asks the registry to link a blob it holds in `from` into `repository` (no upload).
    pub async fn mount_blob(&self, repository: &str, digest: &str, from: &str) -> Result<bool> {
        let url = self.url(&format!(
            "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
        ));
        let resp = self
            .send(
                Method::POST,
                &url,
                &Self::scope(repository, true),
                HeaderMap::new(),
                Payload::Bytes(Vec::new()),
            )
            .await?;
        Ok(resp.status() == StatusCode::CREATED)
    }

    /// Uploads the blob in the file at `path`: in chunks, each retried and resumed where the
    /// registry's upload session stands; one streamed PUT when the registry refuses chunks. Gives up
    /// after `REGISTRY_ATTEMPTS` failures without progress (bytes the registry never held before),
    /// naming the blob and registry.
    pub async fn upload_blob(&self, repository: &str, digest: &str, path: &Path) -> Result<()> {
        let size = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        let scope = Self::scope(repository, true);
        let seen = Arc::new(Mutex::new(Cursor::default()));
        let mut chunked = size > 0;
        let mut chunk = CHUNK;
        let mut tries = Tries::new();
        let mut best = 0;
        let mut state = Upload::Fresh;
        loop {
            // One request; a failure says where to go on from.
            let step: std::result::Result<Option<Upload>, (anyhow::Error, Upload)> = match state {
                Upload::Fresh => match self.start_upload(repository, &scope).await {
                    Ok((location, min_chunk)) if chunked => {
                        chunk = chunk.max(min_chunk);
                        Ok(Some(Upload::At {
                            location,
                            offset: 0,
                        }))
                    }
                    Ok((location, _)) => self
                        .put_whole(&location, &scope, digest, path, size, &seen)
                        .await
                        .map(|()| None)
                        .map_err(|e| (e, Upload::Fresh)),
                    Err(e) => Err((e, Upload::Fresh)),
                },
                Upload::At { location, offset } if offset >= size => {
                    let whole = Whole {
                        repository,
                        digest,
                        path,
                        size,
                        seen: &seen,
                    };
                    self.commit_whole(&location, &scope, whole)
                        .await
                        .map(|()| None)
                }
                Upload::At { location, offset } => {
                    let len = chunk.min(size - offset);
                    match self
                        .patch(&location, &scope, path, offset, len, &seen)
                        .await
                    {
                        Ok((next, end)) => {
                            // Progress (bytes the registry never held before) earns fresh attempts.
                            if end > best {
                                best = end;
                                tries = Tries::new();
                            }
                            Ok(Some(Upload::At {
                                location: next,
                                offset: end,
                            }))
                        }
                        Err(Patch::Refused(_)) if offset == 0 => {
                            // This registry takes a blob in one piece only.
                            chunked = false;
                            Ok(Some(Upload::Fresh))
                        }
                        Err(Patch::Refused(e)) | Err(Patch::Failed(e)) => {
                            Err((e, Upload::Lost { location }))
                        }
                    }
                }
                Upload::Lost { location } => Ok(Some(self.resume(&location, &scope).await)),
            };
            state = match step {
                Ok(None) => return Ok(()),
                Ok(Some(next)) => next,
                Err((e, next)) => {
                    if e.is::<Mismatch>() || super::is_refusal(&e) {
                        return Err(e);
                    }
                    let Some(pause) = tries.failed() else {
                        return Err(e.context(format!(
                            "pushing blob {digest} ({size} bytes) to {}/{repository} failed {} times",
                            self.host, tries.failures
                        )));
                    };
                    tokio::time::sleep(pause).await;
                    next
                }
            };
        }
    }

    /// Where a session that failed stands: its offset, or a fresh start when the registry no
    /// longer knows it.
    async fn resume(&self, location: &str, scope: &str) -> Upload {
        match self.upload_status(location, scope).await {
            Ok(Some((next, offset))) => Upload::At {
                location: next,
                offset,
            },
            _ => Upload::Fresh,
        }
    }

    /// Commits a session that holds the whole blob. A commit that failed on the way may still have
    /// landed: the registry is asked before it counts as failed.
    async fn commit_whole(
        &self,
        location: &str,
        scope: &str,
        w: Whole<'_>,
    ) -> std::result::Result<(), (anyhow::Error, Upload)> {
        let committed = self
            .commit(
                location,
                scope,
                w.repository,
                w.digest,
                w.path,
                w.size,
                w.seen,
            )
            .await;
        match committed {
            Ok(()) => Ok(()),
            Err(e) if !e.is::<Mismatch>() => match self.blob_exists(w.repository, w.digest).await {
                Ok(true) => Ok(()),
                _ => Err((e, Upload::Fresh)),
            },
            Err(e) => Err((e, Upload::Fresh)),
        }
    }

    /// Uploads a small blob held in memory (an SBOM, an empty config) in one PUT, a new session
    /// per attempt; layers go through [`Registry::upload_blob`] from their file instead.
    pub async fn upload_bytes(&self, repository: &str, digest: &str, bytes: Vec<u8>) -> Result<()> {
        let scope = Self::scope(repository, true);
        let once = || async {
            let (location, _) = self.start_upload(repository, &scope).await?;
            let sep = if location.contains('?') { '&' } else { '?' };
            let mut headers = HeaderMap::new();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            let resp = self
                .send(
                    Method::PUT,
                    &format!("{location}{sep}digest={digest}"),
                    &scope,
                    headers,
                    Payload::Bytes(bytes.clone()),
                )
                .await?;
            ok_or_status(resp, &format!("uploading blob {digest} to {repository}")).await?;
            Ok(())
        };
        super::with_retries(once).await.map_err(|(e, tries)| {
            e.context(format!(
                "pushing blob {digest} ({} bytes) to {}/{repository} failed {tries} times",
                bytes.len(),
                self.host
            ))
        })
    }

    /// POST for a session: its location, and the smallest chunk it takes (`OCI-Chunk-Min-Length`).
    async fn start_upload(&self, repository: &str, scope: &str) -> Result<(String, u64)> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let resp = self
            .send(
                Method::POST,
                &url,
                scope,
                HeaderMap::new(),
                Payload::Bytes(Vec::new()),
            )
            .await?;
        let resp = ok_or_status(resp, &format!("starting an upload to {repository}")).await?;
        let min_chunk = resp
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        Ok((self.location(&resp)?, min_chunk))
    }

    fn location(&self, resp: &Response) -> Result<String> {
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow::anyhow!("the registry gave no upload location"))?;
        Ok(if location.starts_with("http") {
            location.to_string()
        } else {
            self.url(location)
        })
    }

    /// One chunk: `len` bytes at `offset`. Returns the session's next location and how many bytes
    /// it now holds.
    async fn patch(
        &self,
        location: &str,
        scope: &str,
        path: &Path,
        offset: u64,
        len: u64,
        seen: &Arc<Mutex<Cursor>>,
    ) -> std::result::Result<(String, u64), Patch> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let range = format!("{offset}-{}", offset + len - 1);
        headers.insert(
            CONTENT_RANGE,
            HeaderValue::from_str(&range).expect("digits and a dash"),
        );
        let payload = Payload::File {
            path: path.to_path_buf(),
            offset,
            len,
            seen: Some(seen.clone()),
        };
        let resp = self
            .send(Method::PATCH, location, scope, headers, payload)
            .await
            .map_err(Patch::Failed)?;
        let status = resp.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            let next = self.location(&resp).map_err(Patch::Failed)?;
            let end = held(&resp).unwrap_or(offset + len);
            return Ok((next, end));
        }
        let transient = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::NOT_FOUND;
        let e = ok_or_status(resp, &format!("uploading bytes {range}"))
            .await
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("uploading bytes {range}: {status}"));
        Err(if transient {
            Patch::Failed(e)
        } else {
            Patch::Refused(e)
        })
    }

    /// `GET` on a session: its next location and how many bytes it holds; None when it is gone.
    async fn upload_status(&self, location: &str, scope: &str) -> Result<Option<(String, u64)>> {
        let resp = self
            .send(
                Method::GET,
                location,
                scope,
                HeaderMap::new(),
                Payload::None,
            )
            .await?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let next = self
            .location(&resp)
            .unwrap_or_else(|_| location.to_string());
        Ok(Some((next, held(&resp).unwrap_or(0))))
    }

    /// Ends a chunked session with the digest, once the bytes sent hash to it.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        location: &str,
        scope: &str,
        repository: &str,
        digest: &str,
        path: &Path,
        size: u64,
        seen: &Arc<Mutex<Cursor>>,
    ) -> Result<()> {
        let mut cursor = std::mem::take(&mut *seen.lock().unwrap());
        let sent = cursor.finish(path, size).await?;
        if sent != digest {
            return Err(Mismatch::error(path, digest, &sent));
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .send(
                Method::PUT,
                &format!("{location}{sep}digest={digest}"),
                scope,
                HeaderMap::new(),
                Payload::Bytes(Vec::new()),
            )
            .await?;
        ok_or_status(resp, &format!("uploading blob {digest} to {repository}")).await?;
        Ok(())
    }

    /// The whole blob in one streamed PUT, for registries that refuse chunks.
    async fn put_whole(
        &self,
        location: &str,
        scope: &str,
        digest: &str,
        path: &Path,
        size: u64,
        seen: &Arc<Mutex<Cursor>>,
    ) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let sep = if location.contains('?') { '&' } else { '?' };
        let payload = Payload::File {
            path: path.to_path_buf(),
            offset: 0,
            len: size,
            seen: Some(seen.clone()),
        };
        let resp = self
            .send(
                Method::PUT,
                &format!("{location}{sep}digest={digest}"),
                scope,
                headers,
                payload,
            )
            .await?;
        if !resp.status().is_success() {
            // The registry's complaint may be ours: a file that no longer hashes to its name.
            let mut cursor = std::mem::take(&mut *seen.lock().unwrap());
            let sent = cursor.finish(path, size).await?;
            if sent != digest {
                return Err(Mismatch::error(path, digest, &sent));
            }
        }
        ok_or_status(resp, &format!("uploading blob {digest}")).await?;
        Ok(())
    }
}

/// The blob an upload session is for.
struct Whole<'a> {
    repository: &'a str,
    digest: &'a str,
    path: &'a Path,
    size: u64,
    seen: &'a Arc<Mutex<Cursor>>,
}

/// How a chunk failed: refused (the registry will not take it this way) or failed on the way.
enum Patch {
    Refused(anyhow::Error),
    Failed(anyhow::Error),
}

/// The bytes on disk are not the blob they are named after: not worth retrying.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

impl Mismatch {
    fn error(path: &Path, digest: &str, sent: &str) -> anyhow::Error {
        anyhow::Error::new(Mismatch(format!(
            "{} hashes to {sent}, not to the blob {digest} it should hold; the image on disk changed or is damaged: run `cargo fargate build` again",
            path.display()
        )))
    }
}

/// The bytes a session holds, from its `Range: 0-<last>` header.
fn held(resp: &Response) -> Option<u64> {
    let range = resp.headers().get(RANGE)?.to_str().ok()?;
    let last: u64 = range.rsplit('-').next()?.trim().parse().ok()?;
    Some(last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cursor_hashes_each_position_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut c = Cursor::default();
        c.feed(0, &data[..40_000]);
        // A retried range overlapping what was hashed, then one past a gap (ignored).
        c.feed(30_000, &data[30_000..60_000]);
        c.feed(80_000, &data[80_000..]);
        assert_eq!(c.at, 60_000);
        // The rest comes from disk.
        assert_eq!(
            c.finish(&path, data.len() as u64).await.unwrap(),
            super::super::digest_of(&data)
        );
    }
}
