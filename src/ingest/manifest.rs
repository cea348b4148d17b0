//! Export manifests: which files of a folder make up the current export. Providers write a
//! month's export again and again (a CUR assembly, a CUR 2.0 refresh, an Azure run), each a
//! full snapshot of the month so far, and keep the older copies beside it; loading them all
//! would count the month several times. Each manifest lists the files of one snapshot, so a
//! folder is read as: for each export and month, the files of the newest manifest only.
//!
//! Formats:
//! - legacy CUR `<report>-Manifest.json` (`assemblyId`, `reportKeys`, `billingPeriod`): one
//!   in each assembly folder and a copy in the date-range folder, which always names the
//!   current assembly;
//! - CUR 2.0 `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` (`dataFiles`), written
//!   after the data files of each refresh;
//! - Azure `manifest.json` / `_manifest.json` (`blobs`, `runInfo`, `exportConfig`), one per
//!   run, the newest run by `runInfo.submittedTime`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::error::{BadInput, IngestError};

/// Which half of an actual/amortised pair an export is (Azure writes them as two exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DatasetRole {
    /// Billed cost: purchases at full price, covered usage at zero.
    Actual,
    /// Effective cost: purchases spread over the usage they cover.
    Amortised,
}

impl DatasetRole {
    /// From an Azure export type (`ActualCost`, legacy `Usage`, `AmortizedCost`).
    fn from_export_type(kind: &str) -> Option<DatasetRole> {
        match kind.to_ascii_lowercase().as_str() {
            "actualcost" | "usage" => Some(DatasetRole::Actual),
            "amortizedcost" => Some(DatasetRole::Amortised),
            _ => None,
        }
    }

    /// From the folder names of a file no manifest describes (`…/amortized/…`).
    pub fn from_path(path: &Path) -> Option<DatasetRole> {
        path.components().rev().skip(1).find_map(|c| {
            let name = c.as_os_str().to_string_lossy().to_ascii_lowercase();
            if name.contains("amortized") || name.contains("amortised") {
                Some(DatasetRole::Amortised)
            } else if name.contains("actual") {
                Some(DatasetRole::Actual)
            } else {
                None
            }
        })
    }
}

/// A data file chosen for an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenFile {
    pub path: PathBuf,
    pub role: Option<DatasetRole>,
}

/// The data files of a folder that make up its current exports, and the files left out
/// (older snapshots) for the log.
pub struct Selection {
    pub files: Vec<ChosenFile>,
    pub superseded: Vec<PathBuf>,
}

/// Whether a file name is a manifest's.
pub fn is_manifest_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("-manifest.json") || lower == "manifest.json" || lower == "_manifest.json"
}

/// One manifest, read.
struct Manifest {
    path: PathBuf,
    /// The export and month it is a snapshot of: manifests of one group compete.
    group: String,
    /// Newer wins.
    rank: (u8, String),
    /// Files listed, as the provider names them (S3 keys, URIs, blob names).
    listed: Vec<String>,
    /// A folder whose data files all belong to this export and month: the ones the chosen
    /// manifest does not list are older snapshots.
    scope: Option<PathBuf>,
    role: Option<DatasetRole>,
}

/// Chooses, among `data_files` (all under `folder`), the files of the newest manifest of each
/// export and month; files no manifest concerns are kept as they are.
pub fn select(folder: &Path, data_files: &[PathBuf], manifests: &[PathBuf]) -> Result<Selection, IngestError> {
    let mut read = Vec::new();
    for path in manifests {
        if let Some(manifest) = read_manifest(path)? {
            read.push(manifest);
        }
    }
    let mut groups: BTreeMap<String, Vec<Manifest>> = BTreeMap::new();
    for manifest in read {
        groups.entry(manifest.group.clone()).or_default().push(manifest);
    }
    let mut chosen: BTreeMap<PathBuf, Option<DatasetRole>> = BTreeMap::new();
    let mut superseded = BTreeSet::new();
    for (_, mut competing) in groups {
        competing.sort_by(|a, b| a.rank.cmp(&b.rank));
        let newest = competing.pop().expect("groups are never empty");
        let mut listed = BTreeSet::new();
        for name in &newest.listed {
            let file = resolve_listed(name, data_files).ok_or_else(|| {
                IngestError::from(BadInput {
                    file: newest.path.clone(),
                    position: None,
                    column: None,
                    problem: format!("the manifest lists {name}, which is not under {}", folder.display()),
                    expected: "every file the newest manifest lists (an incomplete download?)".into(),
                })
            })?;
            listed.insert(file.clone());
            chosen.insert(file, newest.role);
        }
        for older in &competing {
            superseded.extend(older.listed.iter().filter_map(|name| resolve_listed(name, data_files)));
        }
        if let Some(scope) = &newest.scope {
            superseded.extend(data_files.iter().filter(|f| f.starts_with(scope) && !listed.contains(*f)).cloned());
        }
    }
    let superseded: Vec<PathBuf> = superseded.into_iter().filter(|f| !chosen.contains_key(f)).collect();
    let files = data_files
        .iter()
        .filter(|f| !superseded.contains(f))
        .map(|f| ChosenFile {
            path: f.clone(),
            role: chosen.get(f).copied().unwrap_or_else(|| DatasetRole::from_path(f.strip_prefix(folder).unwrap_or(f))),
        })
        .collect();
    Ok(Selection { files, superseded })
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>, IngestError> {
    let bad = |problem: String| {
        IngestError::from(BadInput {
            file: path.to_path_buf(),
            position: None,
            column: None,
            problem,
            expected: "a CUR, CUR 2.0 or Azure export manifest (JSON)".into(),
        })
    };
    let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io { path: path.to_path_buf(), source })?;
    let json: Value = serde_json::from_str(&text).map_err(|e| bad(format!("the manifest is not valid JSON: {e}")))?;
    let strings = |value: Option<&Value>| -> Vec<String> {
        value.and_then(Value::as_array).map_or_else(Vec::new, |items| {
            items
                .iter()
                .filter_map(|item| item.as_str().or_else(|| item.get("blobName").and_then(Value::as_str)))
                .map(str::to_string)
                .collect()
        })
    };
    let text_at = |pointer: &str| json.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let modified = modified.map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()).unwrap_or_default();
    let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let manifest = if json.get("reportKeys").is_some() {
        // Legacy CUR: the copy in the date-range folder names the current assembly.
        let in_assembly = !is_date_range(&parent);
        let range_folder = if in_assembly { parent.parent().map(Path::to_path_buf) } else { Some(parent.clone()) };
        Manifest {
            group: format!("cur:{}:{}", text_at("/reportName"), text_at("/billingPeriod/start")),
            rank: (u8::from(!in_assembly), modified),
            listed: strings(json.get("reportKeys")),
            scope: range_folder.filter(|f| is_date_range(f)),
            path: path.to_path_buf(),
            role: None,
        }
    } else if json.get("dataFiles").is_some() {
        // CUR 2.0: metadata/BILLING_PERIOD=X/ beside data/BILLING_PERIOD=X/.
        let period = parent.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let export_root = parent.parent().and_then(Path::parent);
        Manifest {
            group: format!("cur2:{}:{period}", export_root.map(|r| r.display().to_string()).unwrap_or_default()),
            rank: (0, modified),
            listed: strings(json.get("dataFiles")),
            scope: export_root.map(|root| root.join("data").join(&period)).filter(|_| period.contains('=')),
            path: path.to_path_buf(),
            role: None,
        }
    } else if json.get("blobs").is_some() {
        let kind = text_at("/exportConfig/type");
        Manifest {
            group: format!(
                "azure:{}:{}:{kind}:{}",
                text_at("/exportConfig/resourceId").to_ascii_lowercase(),
                text_at("/exportConfig/exportName"),
                text_at("/runInfo/startDate").get(..7).unwrap_or_default(),
            ),
            rank: (0, format!("{}|{modified}", text_at("/runInfo/submittedTime"))),
            listed: strings(json.get("blobs")),
            scope: None,
            path: path.to_path_buf(),
            role: DatasetRole::from_export_type(&kind),
        }
    } else {
        tracing::debug!(manifest = %path.display(), "not an export manifest finopsd reads; ignored");
        return Ok(None);
    };
    Ok(Some(manifest))
}

/// A legacy CUR date-range folder name: `yyyymmdd-yyyymmdd`.
fn is_date_range(folder: &Path) -> bool {
    folder.file_name().and_then(|n| n.to_str()).is_some_and(|name| {
        let bytes = name.as_bytes();
        bytes.len() == 17 && bytes[8] == b'-' && bytes.iter().enumerate().all(|(i, b)| i == 8 || b.is_ascii_digit())
    })
}

/// The local file a manifest's entry names: S3 keys, URIs and blob names keep the provider's
/// prefixes, a local copy may not; the file whose path ends with the most of the entry's
/// trailing components (at least its name and folder, when it has one) is the one.
fn resolve_listed(listed: &str, data_files: &[PathBuf]) -> Option<PathBuf> {
    let listed = listed.split_once("://").map_or(listed, |(_, rest)| rest);
    let wanted: Vec<&str> = listed.split('/').filter(|c| !c.is_empty()).collect();
    let needed = wanted.len().min(2);
    data_files
        .iter()
        .map(|file| {
            let components: Vec<String> = file
                .components()
                .filter_map(|c| match c {
                    Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            let matched =
                components.iter().rev().zip(wanted.iter().rev()).take_while(|(have, want)| have == want).count();
            (matched, file)
        })
        .filter(|(matched, _)| *matched >= needed && needed > 0)
        .max_by_key(|(matched, _)| *matched)
        .map(|(_, file)| file.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_resolve_by_their_trailing_components() {
        let files = vec![
            PathBuf::from("/x/cur/20250301-20250401/aaa/cur-1.csv.gz"),
            PathBuf::from("/x/cur/20250301-20250401/bbb/cur-1.csv.gz"),
        ];
        let found = resolve_listed("prefix/cur/20250301-20250401/bbb/cur-1.csv.gz", &files);
        assert_eq!(found, Some(files[1].clone()));
        assert_eq!(resolve_listed("s3://bucket/p/cur/20250301-20250401/ccc/cur-1.csv.gz", &files), None);
    }

    #[test]
    fn roles_come_from_folder_names() {
        assert_eq!(DatasetRole::from_path(Path::new("sub/amortized/part_0.csv")), Some(DatasetRole::Amortised));
        assert_eq!(DatasetRole::from_path(Path::new("sub/ActualCost/part_0.csv")), Some(DatasetRole::Actual));
        assert_eq!(DatasetRole::from_path(Path::new("actual.csv")), None);
    }
}
