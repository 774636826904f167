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
pub async fn ensure_admin_token(store: &Store, data_dir: &Path) -> Result<Option<PathBuf>, Error> {
    if store.tokens().any_exist().await? {
        return Ok(None);
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
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

/// Writes `secret` to `path`, readable and writable by the owner only.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
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
