//! The S3-compatible endpoint of the embedded mode: s3s over the local file system, served on the service's
//! own port, so the presigned POST and GET code is the same in both modes and s3s enforces policies,
//! signatures and expiry on its own. Its keys are made once per data directory and never leave the machine.
//!
//! s3s-fs keeps each object's headers and checksums (its MD5 ETag: enough to prove a known file was once
//! stored) in two sidecar files at the store's root, `.bucket-<b64>.object-<b64>.{metadata,internal}.json`,
//! and its delete leaves them behind. `Store` is s3s-fs with a delete that removes them too; at start,
//! sidecars whose object is gone (left before) are removed. The wrapper is hand-written because s3s-fs has
//! no hook for it; it only forwards the operations s3s-fs implements.

use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};
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
    let root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
    match remove_orphan_sidecars(&root) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed the sidecars of objects deleted before"),
        Err(error) => tracing::warn!(%error, "could not look for sidecars of deleted objects"),
    }
    let mut builder = S3ServiceBuilder::new(Store { fs, root });
    builder.set_auth(SimpleAuth::from_single(keys.access_key_id.clone(), keys.secret_access_key.clone()));
    Ok(builder.build())
}

/// s3s-fs, whose deletes also remove the object's sidecars.
struct Store {
    fs: s3s_fs::FileSystem,
    /// Where the sidecars are (s3s-fs's root, canonical).
    root: PathBuf,
}

impl Store {
    /// Remove the sidecars of `key`, which was just deleted. A failure leaves them to the next start's sweep.
    async fn remove_sidecars(&self, bucket: &str, key: &str) {
        for path in sidecars(&self.root, bucket, key) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::warn!(%error, path = %path.display(), "a deleted object's sidecar stays"),
            }
        }
    }
}

/// The sidecar files s3s-fs 0.14 keeps for `key` of `bucket` (its `get_metadata_path` and
/// `get_internal_info_path`).
fn sidecars(root: &Path, bucket: &str, key: &str) -> [PathBuf; 2] {
    let (bucket, key) = (URL_SAFE_NO_PAD.encode(bucket), URL_SAFE_NO_PAD.encode(key));
    ["metadata", "internal"].map(|kind| root.join(format!(".bucket-{bucket}.object-{key}.{kind}.json")))
}

/// The bucket and key a sidecar's file name is of; `None` for any other file (a multipart upload's metadata
/// too: it goes when the upload ends).
fn sidecar_of(file_name: &str) -> Option<(String, String)> {
    let (bucket, rest) = file_name.strip_prefix(".bucket-")?.split_once(".object-")?;
    let key = rest.strip_suffix(".metadata.json").or_else(|| rest.strip_suffix(".internal.json"))?;
    let decode = |text: &str| String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok();
    Some((decode(bucket)?, decode(key)?))
}

/// Remove the sidecars at `root` whose object is not there; how many. A key that would not stay under its
/// bucket's folder is left alone.
fn remove_orphan_sidecars(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Some((bucket, key)) = entry.file_name().to_str().and_then(sidecar_of) else { continue };
        let plain = |part: &str| Path::new(part).components().all(|c| matches!(c, Component::Normal(_)));
        if !plain(&bucket) || !plain(&key) || root.join(&bucket).join(&key).exists() {
            continue;
        }
        std::fs::remove_file(entry.path())?;
        removed += 1;
    }
    Ok(removed)
}

/// Every operation s3s-fs implements, forwarded; deletes also remove sidecars.
#[async_trait::async_trait]
impl S3 for Store {
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.delete_object(req).await?;
        self.remove_sidecars(&bucket, &key).await;
        Ok(response)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let response = self.fs.delete_objects(req).await?;
        for deleted in response.output.deleted.iter().flatten() {
            if let Some(key) = &deleted.key {
                self.remove_sidecars(&bucket, key).await;
            }
        }
        Ok(response)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_names_round_trip_and_orphans_are_removed() {
        let root = std::env::temp_dir().join(format!("photoshare-sidecars-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(root.join("photos/renditions/a")).unwrap();
        let touch = |path: &Path| std::fs::write(path, b"{}").unwrap();
        touch(&root.join("photos/renditions/a/full.jpg"));
        let kept = sidecars(&root, "photos", "renditions/a/full.jpg");
        let orphans = sidecars(&root, "photos", "originals/b.jpg");
        for path in kept.iter().chain(&orphans) {
            touch(path);
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(sidecar_of(name).is_some(), "{name}");
        }
        let name = kept[0].file_name().unwrap().to_str().unwrap();
        assert_eq!(sidecar_of(name), Some(("photos".into(), "renditions/a/full.jpg".into())));
        // A multipart upload's metadata, a key leaving its folder, and other files are not sidecars to sweep.
        let upload = format!(".bucket-{}.object-{}.upload-x.metadata.json", "cGhvdG9z", "Yg");
        let escaping = sidecars(&root, "photos", "../s3-keys.json");
        for path in [root.join(&upload), root.join("s3-keys.json"), escaping[0].clone()] {
            touch(&path);
        }
        assert_eq!(sidecar_of(&upload), None);

        assert_eq!(remove_orphan_sidecars(&root).unwrap(), 2);
        assert!(kept.iter().all(|path| path.exists()), "an object's sidecars stay");
        assert!(orphans.iter().all(|path| !path.exists()), "a deleted object's go");
        assert!(root.join(&upload).exists() && root.join("s3-keys.json").exists() && escaping[0].exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
