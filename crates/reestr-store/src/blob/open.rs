//! [`Blobs::open`]: the document store a `--document-store` URL names.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use reestr_domain::Error;
use url::Url;

use super::Blobs;

/// The flag the errors of [`Blobs::open`] name.
const FLAG: &str = "--document-store";

fn invalid(description: impl Into<String>) -> Error {
    Error::invalid(FLAG, description)
}

impl Blobs {
    /// Opens the document store `url` names, or the local directory `default_dir` (the server
    /// passes `{data_dir}/documents`) when there is none:
    ///
    /// - `file:///absolute/path`: that local directory, created if missing;
    /// - `s3://bucket` or `s3://bucket/key/prefix`: that bucket, every key under the prefix.
    ///   Settings come from the standard environment variables (`AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    ///   `AWS_ENDPOINT`/`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …) and from query parameters,
    ///   which win: `endpoint`, `region`, `allow_http`, `virtual_hosted_style_request`,
    ///   `skip_signature` and every other key object_store's S3 builder knows, with or
    ///   without its `aws_` prefix (`access_key_id` and `secret_access_key` too, but
    ///   credentials belong in the environment rather than in a command line), e.g.
    ///   `s3://docs/reestr?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true`.
    ///   A value with `&` or `#` in it is percent-encoded.
    ///
    /// Anything else, an unknown query key, or a directory that cannot be made is an invalid
    /// argument naming `--document-store`. Opening checks no connection: an S3 store that
    /// does not answer fails the first call that uses it, as UNAVAILABLE.
    pub fn open(url: Option<&str>, default_dir: &FsPath) -> Result<Blobs, Error> {
        let Some(url) = url else {
            return Self::local(default_dir);
        };
        if url.starts_with("file://") {
            let parsed = Url::parse(url).map_err(|e| invalid(format!("{url:?}: {e}")))?;
            let dir = parsed
                .to_file_path()
                .ok()
                .filter(|_| parsed.query().is_none() && parsed.fragment().is_none())
                .ok_or_else(|| {
                    invalid(format!(
                        "{url:?} is not a local directory: write file:///absolute/path"
                    ))
                })?;
            Self::local(&dir)
        } else if url.starts_with("s3://") {
            Self::s3(url)
        } else {
            Err(invalid(format!(
                "{url:?} is not a document store: write file:///absolute/path or \
                 s3://bucket/optional/prefix"
            )))
        }
    }

    fn local(dir: &FsPath) -> Result<Blobs, Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            invalid(format!(
                "cannot create the directory {}: {e}",
                dir.display()
            ))
        })?;
        let root: PathBuf = std::fs::canonicalize(dir)
            .map_err(|e| invalid(format!("cannot open the directory {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| invalid(format!("cannot open the directory {}: {e}", root.display())))?
            // Written objects and their directory entries reach the disk before a write
            // returns, as an acknowledged write to S3 is durable.
            .with_fsync(true);
        Ok(Blobs {
            store: Arc::new(store),
            description: format!("local directory {}", root.display()).into(),
            local_root: Some(Arc::new(root)),
        })
    }

    fn s3(text: &str) -> Result<Blobs, Error> {
        let url = Url::parse(text).map_err(|e| invalid(format!("{text:?}: {e}")))?;
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| invalid(format!("{text:?} names no bucket: write s3://bucket")))?;
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return Err(invalid(
                "an s3:// URL is s3://bucket/prefix: credentials come from AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, the server from ?endpoint=",
            ));
        }
        let prefix = Path::from_url_path(url.path())
            .map_err(|e| invalid(format!("the key prefix of {text:?}: {e}")))?;

        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in url.query_pairs() {
            let parsed: AmazonS3ConfigKey = key
                .parse()
                .map_err(|_| invalid(format!("unknown S3 setting {key:?} in the URL's query")))?;
            if matches!(parsed, AmazonS3ConfigKey::Bucket) {
                return Err(invalid("the bucket is the URL's host, not a query setting"));
            }
            builder = builder.with_config(parsed, value.into_owned());
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .map(|e| without_userinfo(&e));
        let region = builder.get_config_value(&AmazonS3ConfigKey::Region);

        // object_store's HTTPS client is reqwest on rustls without a built-in crypto provider:
        // the register's is ring. Installing fails harmlessly when one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s3 = builder
            .build()
            .map_err(|e| invalid(format!("{text:?}: {e}")))?;

        let mut description = format!("s3://{bucket}");
        if !prefix.is_root() {
            description.push('/');
            description.push_str(prefix.as_ref());
        }
        let settings: Vec<String> = [
            endpoint.map(|e| format!("endpoint {e}")),
            region.map(|r| format!("region {r}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !settings.is_empty() {
            description.push_str(&format!(" ({})", settings.join(", ")));
        }

        let store: Arc<dyn ObjectStore> = if prefix.is_root() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Blobs {
            store,
            description: description.into(),
            local_root: None,
        })
    }
}

/// An endpoint URL without the user name and password it may carry, for logs.
fn without_userinfo(endpoint: &str) -> String {
    match Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "(unparsable)".to_string(),
    }
}
