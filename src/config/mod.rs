//! Typed configuration: `config/finopsd.toml`, documented in the file itself.
//!
//! Unknown keys are errors (`deny_unknown_fields`), so a typo never silently falls back to a
//! default. Secrets come from the environment and are redacted wherever the config is shown.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

/// The file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/finopsd.toml";
/// Environment variable that overrides `daemon.listen`.
pub const LISTEN_ENV: &str = "FINOPSD_LISTEN";
/// Environment variable that overrides `store.url` (it may hold a password).
pub const DATABASE_URL_ENV: &str = "FINOPSD_DATABASE_URL";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub ingest: IngestConfig,
    pub allocation: crate::allocate::AllocationConfig,
    pub unit_costs: crate::analyse::unit_costs::UnitCostConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<crate::analyse::budgets::BudgetConfig>,
    pub anomalies: crate::detect::monitor::AnomalyConfig,
    pub notify: crate::notify::config::NotifyConfig,
    pub daemon: crate::daemon::DaemonConfig,
    pub logging: LoggingConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Where cost facts live: `sqlite://finopsd.db` (a file, created on first use) or
    /// `postgres://user@host:5432/finopsd`. `FINOPSD_DATABASE_URL` overrides it.
    pub url: DatabaseUrl,
    /// Connections in the pool. SQLite allows one writer at a time whatever this says.
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { url: DatabaseUrl("sqlite://finopsd.db".into()), max_connections: 4 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Tag keys kept on cost facts. Matched case- and whitespace-insensitively
    /// (`Team`, ` team `, `TEAM` are one key); provider-prefixed keys (`aws:createdBy`)
    /// are matched with their prefix. Tags not listed are dropped at ingest to keep the
    /// store small; adding a key later needs a re-ingest of the months that should have it.
    pub tag_keys: Vec<String>,
    /// Currency codes accepted besides ISO 4217, for providers that bill in virtual
    /// currencies (FOCUS 1.2). Anything else in BillingCurrency rejects the file.
    pub extra_currencies: Vec<String>,
    /// A folder of extra or replacement mapping files (`<format>.toml`), relative to the
    /// config file. The mappings shipped in `models/` are built in; a file here with the same
    /// `name` replaces one of them.
    pub models_dir: Option<PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            tag_keys: ["team", "owner-team", "service", "app", "cost_center", "cost-center", "environment", "env"]
                .map(String::from)
                .to_vec(),
            extra_currencies: Vec::new(),
            models_dir: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` for people, `json` for log collectors. `--log-format` overrides it.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, or per module, e.g. `info,finopsd::ingest=debug`.
    /// `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A database URL. It can carry a password, so `Debug` and serialisation redact it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL with its secret, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else { return url.clone() };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let shown = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
                format!("{}://{}{}", &url[..scheme_end], shown, &rest[at..])
            }
            None => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl Config {
    /// Reads the config file. When `path` is the default and does not exist, the built-in
    /// defaults apply, so `finopsd` works from any folder; an explicit path must exist.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => {
                tracing::debug!(path = %path.display(), "no config file; using built-in defaults");
                Config::default()
            }
            Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
        };
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        config.apply_env(|name| std::env::var(name).ok());
        config.validate(path)?;
        Ok(config)
    }

    /// Relative paths in a config file are relative to its folder, so it works from any
    /// working directory.
    fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        };
        self.ingest.models_dir.iter_mut().for_each(resolve);
        self.daemon.folders.iter_mut().for_each(resolve);
        resolve(&mut self.daemon.mirror_dir);
        self.unit_costs.feeds.iter_mut().filter_map(|feed| feed.csv.as_mut()).for_each(resolve);
        for channel in &mut self.notify.channels {
            channel.directory.iter_mut().map(|d| &mut d.path).for_each(resolve);
            channel.email.iter_mut().filter_map(|e| e.ca_file.as_mut()).for_each(resolve);
        }
        let rules = self.allocation.dimensions.iter_mut().flat_map(|d| d.rules.iter_mut());
        rules.filter_map(|rule| rule.lookup.as_mut()?.catalog.as_mut()).for_each(resolve);
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse { path: path.to_path_buf(), message: err.to_string() })
    }

    /// Environment overrides: secrets and deployment specifics stay out of the file.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(url) = lookup(DATABASE_URL_ENV).filter(|url| !url.trim().is_empty()) {
            self.store.url = DatabaseUrl(url);
        }
        // A container listens on every interface; the file's default is loopback only.
        if let Some(listen) = lookup(LISTEN_ENV).filter(|listen| !listen.trim().is_empty()) {
            self.daemon.listen = listen;
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let url = self.store.url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(format!(
                "store.url `{}` is neither sqlite:// nor postgres://; e.g. sqlite://finopsd.db",
                self.store.url.redacted()
            )));
        }
        if self.store.max_connections == 0 {
            return Err(invalid("store.max_connections must be at least 1".into()));
        }
        if let Some(key) = self.ingest.tag_keys.iter().find(|key| key.trim().is_empty()) {
            return Err(invalid(format!("ingest.tag_keys has an empty key `{key}`")));
        }
        crate::allocate::Allocator::new(&self.allocation).map_err(|err| invalid(err.to_string()))?;
        self.unit_costs.validate().map_err(invalid)?;
        let dimensions: Vec<&str> = self.allocation.dimensions.iter().map(|d| d.name.as_str()).collect();
        crate::analyse::budgets::validate(&self.budgets, &dimensions).map_err(invalid)?;
        crate::notify::config::validate(&self.notify, &dimensions).map_err(invalid)?;
        crate::daemon::api::validate(&self.daemon.tokens, &dimensions).map_err(invalid)?;
        self.daemon.cost_explorer.iter().try_for_each(|pull| pull.validate()).map_err(invalid)?;
        self.daemon.azure_cost.iter().try_for_each(|pull| pull.validate()).map_err(invalid)?;
        crate::daemon::validate(&self.daemon).map_err(invalid)?;
        Ok(())
    }

    /// The effective config as TOML, secrets redacted: what `finopsd config check` prints.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::new("postgres://finops:s3cret@db:5432/finopsd?sslmode=require");
        assert_eq!(url.redacted(), "postgres://finops:***@db:5432/finopsd?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
        let config = Config { store: StoreConfig { url, max_connections: 2 }, ..Config::default() };
        assert!(!config.to_redacted_toml().contains("s3cret"));
        assert_eq!(DatabaseUrl::new("sqlite://finopsd.db").redacted(), "sqlite://finopsd.db");
    }

    #[test]
    fn the_shipped_config_is_valid_and_states_the_defaults() {
        let shipped =
            Config::parse(Path::new("config/finopsd.toml"), include_str!("../../config/finopsd.toml")).unwrap();
        assert_eq!(shipped.to_redacted_toml(), Config::default().to_redacted_toml());
    }

    #[test]
    fn typos_are_errors() {
        let err = Config::parse(Path::new("x.toml"), "[store]\nurll = \"sqlite://a.db\"\n").unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    fn environment_overrides_the_database_url() {
        let mut config = Config::default();
        config.apply_env(|name| (name == DATABASE_URL_ENV).then(|| "postgres://127.0.0.1/test".to_string()));
        assert_eq!(config.store.url.expose(), "postgres://127.0.0.1/test");
    }
}
