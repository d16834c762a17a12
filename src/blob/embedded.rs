//! The S3-compatible endpoint of the embedded mode: s3s over the local file system, served on the service's
//! own port, so the presigned POST and GET code is the same in both modes and s3s enforces policies,
//! signatures and expiry on its own. Its keys are made once per data directory and never leave the machine.

use std::path::Path;

use anyhow::Context;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use serde::{Deserialize, Serialize};

/// The access key pair of the embedded endpoint, kept in the data directory.
#[derive(Clone, Serialize, Deserialize)]
pub struct LocalKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl LocalKeys {
    /// Read the keys of `data_dir`, making them on first use (owner-only file).
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("s3-keys.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()));
        }
        let keys = Self {
            access_key_id: format!("local-{}", uuid::Uuid::new_v4().simple()),
            secret_access_key: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        };
        write_private(&path, &serde_json::to_vec_pretty(&keys)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(keys)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The S3 service over `root` (one folder per bucket), accepting only requests signed with `keys`.
pub fn service(root: &Path, bucket: &str, keys: &LocalKeys) -> anyhow::Result<S3Service> {
    std::fs::create_dir_all(root.join(bucket)).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("opening the embedded object store: {e:?}"))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(keys.access_key_id.clone(), keys.secret_access_key.clone()));
    Ok(builder.build())
}
