//! First start: an administrator token for a register that has none.
//!
//! On a database where no token was ever created, the server creates a REGISTRY_ADMIN operator
//! token and writes its secret to `admin.token` in the data directory, readable by the
//! server's user only (mode 0600). The log names the file, never the secret. The event is in
//! the audit trail as the work of `operator:bootstrap`. With more than one server on one
//! PostgreSQL database, more than one may bootstrap at the same first start; each writes its
//! own data directory's file, and every such token is listed by ListTokens for review.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use reestr_domain::Error;
use reestr_domain::access::Role;
use reestr_domain::token::TokenSpec;
use reestr_store::{AuditContext, Store};

/// Name of the file the bootstrap secret is written to.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Creates the first administrator token if the register has no token at all; returns the
/// file written.
///
/// An existing `admin.token` is never overwritten or truncated. If the register has no token
/// while the file exists, the file is another register's key (a data directory used first with
/// another database): the start stops with an error that says so and what to do. If the
/// register has tokens and the file's secret is none of them, the server starts and warns.
pub async fn ensure_admin_token(store: &Store, data_dir: &Path) -> Result<Option<PathBuf>, Error> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if store.tokens().any_exist().await? {
        warn_if_foreign(store, &path).await?;
        return Ok(None);
    }
    if path.exists() {
        return Err(Error::invalid(
            "--data-dir",
            format!(
                "{} exists, but this database has no token yet: the file holds the key of \
                 another register (this data directory was used with another database). \
                 Start this database's server with its own --data-dir, or move the file away \
                 if that register is gone; the server writes a new key on its first start",
                path.display()
            ),
        ));
    }
    let ctx = AuditContext {
        caller: "operator:bootstrap".into(),
        method: "bootstrap".into(),
        ..Default::default()
    };
    let (token, secret) = store
        .tokens()
        .create(
            &ctx,
            TokenSpec {
                organization: None,
                roles: [Role::RegistryAdmin].into(),
                display_name: "bootstrap administrator".into(),
                expire_time: None,
                rate_limit: None,
            },
        )
        .await?;
    write_secret(&path, &secret)
        .map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(
        token = %token.id.name(),
        file = %path.display(),
        "created the first administrator token; its secret is in the file"
    );
    Ok(Some(path))
}

/// Warns when `path` holds a secret that is no token of this register, so that the operator
/// learns why the client commands are refused before they are.
async fn warn_if_foreign(store: &Store, path: &Path) -> Result<(), Error> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let hash = reestr_domain::token::secret_hash(text.trim());
    if store.tokens().find_by_secret_hash(&hash).await?.is_none() {
        tracing::warn!(
            file = %path.display(),
            "this file's secret is no token of this register (it was written for another \
             database); the client commands that read it will be refused"
        );
    }
    Ok(())
}

/// Writes `secret` to `path`, readable and writable by the owner only.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    // A file that appeared since the check above is not overwritten either.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
