//! Where exports land: a local folder, an S3 bucket or prefix, an Azure Blob container or a
//! GCS bucket, all listed through `object_store`, so the four share one code path.
//!
//! A remote location is mirrored into a local folder, which is then ingested like any other:
//! its manifests first, then only the data files the newest manifest of each export and month
//! lists (older snapshots are never downloaded, and dropped from the mirror once superseded),
//! and only objects whose version (ETag) changed since they were fetched. The versions held are
//! remembered in a hidden file in the mirror, so a restart fetches nothing again. Each object is
//! streamed to a hidden temporary file beside its place and renamed, so neither a crash nor a
//! large export leaves a half file for the ingest to read or grows memory. A local folder is
//! read where it is.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _, ObjectStoreScheme};
use serde::{Deserialize, Serialize};
use url::Url;
use xxhash_rust::xxh3::xxh3_64;

use super::error::IngestError;
use super::export_file::is_data_file_name;
use super::manifest;

/// The mirror's record of the objects it holds: key (relative to the location) → version.
const MIRROR_STATE: &str = ".finopsd-objects.json";

/// One place exports land, as configured: `s3://bucket/prefix`, `az://container/prefix`,
/// `gs://bucket/prefix`, `file:///path` or a plain folder path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLocation {
    pub url: String,
    /// `object_store` settings for the bucket's client (`region`, `endpoint`, `allow_http`,
    /// `use_emulator`, …). Credentials come from the environment (`AWS_*`, `AZURE_*`,
    /// `GOOGLE_*`), never from the configuration file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("export location {location}: {problem}")]
    Invalid { location: String, problem: String },
    #[error("export location {location}: {source}")]
    Remote { location: String, source: Box<object_store::Error> },
    #[error("export location {location}: cannot write the mirror at {path}: {source}")]
    Mirror { location: String, path: PathBuf, source: std::io::Error },
    #[error("export location {location}: {source}")]
    Export { location: String, source: Box<IngestError> },
}

/// A location's exports as they are now, on local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalExports {
    /// The folder to ingest: the location itself when it is local, else its mirror.
    pub folder: PathBuf,
    /// The version of every file the folder's export is made of, by key: equal versions mean
    /// an ingest would read the same bytes.
    pub versions: BTreeMap<String, String>,
    /// Objects downloaded by this sync (none for a local folder).
    pub fetched: usize,
}

impl ExportLocation {
    pub fn folder(path: &Path) -> ExportLocation {
        ExportLocation { url: path.display().to_string(), options: BTreeMap::new() }
    }

    /// The location as it may be logged: without a query (an Azure SAS token) or a password.
    pub fn display(&self) -> String {
        match Url::parse(&self.url) {
            Ok(mut url) if url.scheme().len() > 1 => {
                url.set_query(None);
                let _ = url.set_password(None);
                url.to_string()
            }
            _ => self.url.clone(),
        }
    }

    /// Whether the location is one finopsd can read, its options known: checked at start, so
    /// a typo stops the daemon instead of failing every run.
    pub fn check(&self) -> Result<(), LocationError> {
        self.open().map(|_| ())
    }

    /// Lists the location and brings its current exports to local disk; with a remote location,
    /// `mirror_root` holds one mirror folder per location.
    pub async fn sync(&self, mirror_root: &Path) -> Result<LocalExports, LocationError> {
        let OpenLocation { store, prefix, local } = self.open()?;
        let objects = self.list(store.as_ref(), &prefix).await?;
        match local {
            Some(folder) => {
                let versions = objects.into_iter().map(|(key, meta)| (key, version(&meta))).collect();
                Ok(LocalExports { folder, versions, fetched: 0 })
            }
            None => self.mirror(store.as_ref(), &prefix, objects, &mirror_root.join(self.mirror_name())).await,
        }
    }

    fn open(&self) -> Result<OpenLocation, LocationError> {
        let invalid = |problem: String| LocationError::Invalid { location: self.display(), problem };
        let url = match Url::parse(&self.url) {
            // A one-letter scheme is a Windows drive, not a URL.
            Ok(url) if url.scheme().len() > 1 => url,
            _ => {
                let folder = PathBuf::from(&self.url);
                let folder = std::path::absolute(&folder).map_err(|e| invalid(e.to_string()))?;
                Url::from_directory_path(&folder).map_err(|()| invalid("not an absolute folder path".into()))?
            }
        };
        let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| invalid(e.to_string()))?;
        let prefix = ObjectPath::parse(prefix).map_err(|e| invalid(e.to_string()))?;
        let unknown = |key: &str| invalid(format!("unknown option {key:?} for a {} location", url.scheme()));
        macro_rules! configured {
            ($builder:expr) => {{
                let mut builder = $builder.with_url(url.to_string());
                for (key, value) in &self.options {
                    builder = builder.with_config(key.to_ascii_lowercase().parse().map_err(|_| unknown(key))?, value);
                }
                Arc::new(builder.build().map_err(|e| invalid(e.to_string()))?) as Arc<dyn ObjectStore>
            }};
        }
        let remote = |store| Ok(OpenLocation { store, prefix: prefix.clone(), local: None });
        match scheme {
            ObjectStoreScheme::Local => {
                if !self.options.is_empty() {
                    return Err(invalid("a local folder takes no options".into()));
                }
                let folder = url.to_file_path().map_err(|()| invalid("not a local path".into()))?;
                let store = Arc::new(object_store::local::LocalFileSystem::new());
                Ok(OpenLocation { store, prefix, local: Some(folder) })
            }
            ObjectStoreScheme::AmazonS3 => remote(configured!(object_store::aws::AmazonS3Builder::from_env())),
            ObjectStoreScheme::MicrosoftAzure => {
                remote(configured!(object_store::azure::MicrosoftAzureBuilder::from_env()))
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                remote(configured!(object_store::gcp::GoogleCloudStorageBuilder::from_env()))
            }
            other => {
                Err(invalid(format!("{other:?} is not a place exports land; use s3://, az://, gs:// or a folder")))
            }
        }
    }

    /// The export files and manifests under the prefix, by key relative to it. Hidden files
    /// (a mirror's own, temporary downloads) are not exports.
    async fn list(
        &self,
        store: &dyn ObjectStore,
        prefix: &ObjectPath,
    ) -> Result<BTreeMap<String, ObjectMeta>, LocationError> {
        let listed: Vec<ObjectMeta> = store.list(Some(prefix)).try_collect().await.map_err(|e| self.remote(e))?;
        let mut objects = BTreeMap::new();
        for meta in listed {
            let Some(parts) = meta.location.prefix_match(prefix) else { continue };
            let parts: Vec<String> = parts.map(|part| part.as_ref().to_string()).collect();
            let Some(name) = parts.last() else { continue };
            if parts.iter().any(|part| part.starts_with('.'))
                || !(manifest::is_manifest_name(name) || is_data_file_name(name))
            {
                continue;
            }
            objects.insert(parts.join("/"), meta);
        }
        Ok(objects)
    }

    async fn mirror(
        &self,
        store: &dyn ObjectStore,
        prefix: &ObjectPath,
        objects: BTreeMap<String, ObjectMeta>,
        mirror: &Path,
    ) -> Result<LocalExports, LocationError> {
        let mirror_error =
            |path: &Path, source| LocationError::Mirror { location: self.display(), path: path.to_path_buf(), source };
        std::fs::create_dir_all(mirror).map_err(|e| mirror_error(mirror, e))?;
        let mut held = MirrorState::load(mirror);
        let (manifests, data): (Vec<&String>, Vec<&String>) =
            objects.keys().partition(|key| manifest::is_manifest_name(key.rsplit('/').next().unwrap_or(key)));
        let mut fetched = 0;
        for key in &manifests {
            fetched += usize::from(held.fetch(self, store, key, &objects[*key], mirror).await?);
        }
        // Which data files the newest manifests want, worked out before any is downloaded.
        let data_paths: Vec<PathBuf> = data.iter().map(|key| mirror.join(key)).collect();
        let manifest_paths: Vec<PathBuf> = manifests.iter().map(|key| mirror.join(key)).collect();
        let selection = manifest::select(mirror, &data_paths, &manifest_paths)
            .map_err(|e| LocationError::Export { location: self.display(), source: Box::new(e) })?;
        let key_of: std::collections::HashMap<&PathBuf, &String> =
            data_paths.iter().zip(data.iter().copied()).collect();
        let mut wanted: Vec<&String> = manifests;
        wanted.extend(selection.files.iter().map(|chosen| key_of[&chosen.path]));
        for key in &wanted[manifest_paths.len()..] {
            fetched += usize::from(held.fetch(self, store, key, &objects[*key], mirror).await?);
        }
        // Objects gone from the location or superseded are dropped, so the mirror is the export.
        let stale: Vec<String> = held.versions.keys().filter(|key| !wanted.contains(key)).cloned().collect();
        for key in &stale {
            let path = mirror.join(key);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(mirror_error(&path, e)),
            }
            held.versions.remove(key);
        }
        // Once for all: a crash before it leaves versions of files gone, which are fetched again.
        if !stale.is_empty() {
            held.save(mirror).map_err(|e| mirror_error(mirror, e))?;
        }
        tracing::debug!(location = %self.display(), prefix = %prefix, files = wanted.len(), "mirror up to date");
        let versions = wanted.into_iter().map(|key| (key.clone(), version(&objects[key]))).collect();
        Ok(LocalExports { folder: mirror.to_path_buf(), versions, fetched })
    }

    /// A stable folder name per location: readable, and unique by a hash of the whole URL.
    fn mirror_name(&self) -> String {
        let readable: String = self
            .display()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .take(60)
            .collect();
        format!("{readable}-{:016x}", xxh3_64(self.url.as_bytes()))
    }

    fn remote(&self, source: object_store::Error) -> LocationError {
        LocationError::Remote { location: self.display(), source: Box::new(source) }
    }
}

/// A location's client, the prefix its exports are under, and the folder when it is local.
struct OpenLocation {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    local: Option<PathBuf>,
}

/// An object's version: its ETag, else its size and modification time.
fn version(meta: &ObjectMeta) -> String {
    meta.e_tag.clone().unwrap_or_else(|| format!("{}@{}", meta.size, meta.last_modified.to_rfc3339()))
}

/// The versions of the objects a mirror holds, by key.
#[derive(Debug, Default, Deserialize, Serialize)]
struct MirrorState {
    versions: BTreeMap<String, String>,
}

impl MirrorState {
    /// A missing or unreadable record means nothing is known to be held: everything is fetched.
    fn load(mirror: &Path) -> MirrorState {
        std::fs::read(mirror.join(MIRROR_STATE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, mirror: &Path) -> std::io::Result<()> {
        let temporary = mirror.join(format!("{MIRROR_STATE}.partial"));
        std::fs::write(&temporary, serde_json::to_vec_pretty(self).expect("versions serialise"))?;
        std::fs::rename(&temporary, mirror.join(MIRROR_STATE))
    }

    /// Downloads `key` unless the mirror already holds this version of it; whether it did.
    async fn fetch(
        &mut self,
        location: &ExportLocation,
        store: &dyn ObjectStore,
        key: &str,
        meta: &ObjectMeta,
        mirror: &Path,
    ) -> Result<bool, LocationError> {
        let target = mirror.join(key);
        let version = version(meta);
        if self.versions.get(key) == Some(&version) && target.is_file() {
            return Ok(false);
        }
        let mirror_error = |path: &Path, source| LocationError::Mirror {
            location: location.display(),
            path: path.to_path_buf(),
            source,
        };
        let folder = target.parent().expect("a key has a file name");
        std::fs::create_dir_all(folder).map_err(|e| mirror_error(folder, e))?;
        let name = target.file_name().expect("a key has a file name").to_string_lossy();
        let temporary = folder.join(format!(".{name}.partial"));
        let mut file = std::fs::File::create(&temporary).map_err(|e| mirror_error(&temporary, e))?;
        let mut stream = store.get(&meta.location).await.map_err(|e| location.remote(e))?.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| location.remote(e))?;
            file.write_all(&chunk).map_err(|e| mirror_error(&temporary, e))?;
        }
        // Manifests of one export are ranked by modification time: the copy keeps the object's.
        file.set_modified(meta.last_modified.into()).map_err(|e| mirror_error(&temporary, e))?;
        file.sync_all().map_err(|e| mirror_error(&temporary, e))?;
        drop(file);
        std::fs::rename(&temporary, &target).map_err(|e| mirror_error(&target, e))?;
        tracing::info!(location = %location.display(), key, bytes = meta.size, "fetched");
        self.versions.insert(key.to_string(), version);
        self.save(mirror).map_err(|e| mirror_error(mirror, e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(url: &str, options: &[(&str, &str)]) -> ExportLocation {
        let options = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ExportLocation { url: url.into(), options }
    }

    #[test]
    fn a_location_is_logged_without_its_sas_token_or_password() {
        let sas = location("https://acme.blob.core.windows.net/exports/cost?sv=2024&sig=secret", &[]);
        assert_eq!(sas.display(), "https://acme.blob.core.windows.net/exports/cost");
        assert_eq!(location("s3://user:secret@bucket/prefix", &[]).display(), "s3://user@bucket/prefix");
        assert_eq!(location("/var/lib/exports", &[]).display(), "/var/lib/exports");
    }

    #[test]
    fn an_unknown_option_or_scheme_is_refused_at_start() {
        let typo = location("s3://bucket/prefix", &[("regoin", "us-east-1")]);
        let error = typo.check().unwrap_err().to_string();
        assert_eq!(error, "export location s3://bucket/prefix: unknown option \"regoin\" for a s3 location");
        assert!(location("s3://bucket/prefix", &[("region", "us-east-1")]).check().is_ok());
        let error = location("ftp://host/exports", &[]).check().unwrap_err().to_string();
        assert!(error.starts_with("export location ftp://host/exports: "), "{error}");
        let error = location("/var/lib/exports", &[("region", "x")]).check().unwrap_err().to_string();
        assert!(error.ends_with("a local folder takes no options"), "{error}");
    }

    #[test]
    fn mirror_folders_are_readable_and_unique_per_url() {
        let a = location("s3://bucket/cur2", &[]).mirror_name();
        let b = location("s3://bucket/cur2/", &[]).mirror_name();
        assert!(a.starts_with("s3___bucket_cur2-"), "{a}");
        assert_ne!(a, b);
    }
}
