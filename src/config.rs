//! The configuration file `panka init` writes (`~/.panka/config.yaml`), read with the same
//! diagnostics as stack files.

use panka_core::diag::{Diagnostic, Diagnostics};
use panka_core::read::MapReader;
use panka_core::source::{SourceId, Sources};
use panka_core::yaml::parse_document;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// Files under `.panka/` in the deployment repo.
    Local,
    S3 {
        region: Option<String>,
        bucket: String,
        prefix: String,
        kms_key_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockConfig {
    Local,
    DynamoDb {
        region: Option<String>,
        table: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub backend: BackendConfig,
    pub locks: LockConfig,
    pub lease: Duration,
    pub aws_profile: Option<String>,
    pub aws_region: Option<String>,
}

impl Default for Config {
    /// The embedded default when no configuration file exists: local state and locks.
    fn default() -> Self {
        Config {
            backend: BackendConfig::Local,
            locks: LockConfig::Local,
            lease: panka_core::state::DEFAULT_LEASE,
            aws_profile: None,
            aws_region: None,
        }
    }
}

/// Reads `path`; problems are diagnostics with `file:line:column`.
pub fn load(path: &Path, sources: &mut Sources, diags: &mut Diagnostics) -> Option<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            diags.push(Diagnostic::error(
                "E034",
                panka_core::diag::Location::Path(sources.display_name(path)),
                format!("cannot read {}: {e}", path.display()),
            ));
            return None;
        }
    };
    let source: SourceId = sources.add(path, text);
    let root = match parse_document(source, &sources.get(source).text) {
        Ok(root) => root,
        Err(errs) => {
            diags.extend(errs);
            return None;
        }
    };
    let mut top = MapReader::new(&root, "", root.span, diags)?;
    top.one_of("version", &["v1"], diags);
    let mut config = Config::default();

    if let Some(mut aws) = top.map("aws", diags) {
        config.aws_profile = aws
            .string("profile", diags)
            .filter(|p| !p.is_empty() && p != "default");
        config.aws_region = aws.string("region", diags);
        aws.finish(diags);
    }
    if let Some(mut backend) = top.map("backend", diags) {
        let kind = backend
            .one_of("type", &["s3", "local"], diags)
            .unwrap_or("local");
        let region = backend.string("region", diags);
        let bucket = backend.string("bucket", diags);
        let prefix = backend.string("prefix", diags).unwrap_or_default();
        let kms_key_id = backend.string("kmsKeyId", diags);
        if kind == "s3" {
            match bucket {
                Some(bucket) => {
                    config.backend = BackendConfig::S3 {
                        region,
                        bucket,
                        prefix,
                        kms_key_id,
                    }
                }
                None => {
                    backend.required("bucket", diags);
                }
            }
        }
        backend.finish(diags);
    }
    if let Some(mut locks) = top.map("locks", diags) {
        let kind = locks
            .one_of("type", &["dynamodb", "local"], diags)
            .unwrap_or("local");
        let region = locks.string("region", diags);
        let table = locks.string("table", diags);
        if let Some(seconds) = locks.int("leaseSeconds", 60..=86_400, diags) {
            config.lease = Duration::from_secs(seconds as u64);
        }
        if kind == "dynamodb" {
            match table {
                Some(table) => config.locks = LockConfig::DynamoDb { region, table },
                None => {
                    locks.required("table", diags);
                }
            }
        }
        locks.finish(diags);
    }
    top.finish(diags);
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> (Option<Config>, Diagnostics) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).expect("write");
        let mut sources = Sources::default();
        let mut diags = Diagnostics::default();
        (load(&path, &mut sources, &mut diags), diags)
    }

    #[test]
    fn reads_the_walkthrough_config() {
        let (config, diags) = load_text(
            "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: company-panka-state\nlocks:\n  type: dynamodb\n  region: us-east-1\n  table: company-panka-locks\naws:\n  profile: default\n  region: us-east-1\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let config = config.expect("config");
        assert_eq!(
            config.backend,
            BackendConfig::S3 {
                region: Some("us-east-1".into()),
                bucket: "company-panka-state".into(),
                prefix: String::new(),
                kms_key_id: None
            }
        );
        assert_eq!(
            config.locks,
            LockConfig::DynamoDb {
                region: Some("us-east-1".into()),
                table: "company-panka-locks".into()
            }
        );
        assert_eq!(
            config.aws_profile, None,
            "`default` means the standard chain"
        );
    }

    #[test]
    fn reports_problems_with_positions() {
        let (_, diags) = load_text("version: v1\nbackend:\n  type: s3\n  buckett: x\n");
        let found: Vec<(&str, u32)> = diags
            .iter()
            .map(|d| (d.code, d.span().map(|s| s.line).unwrap_or(0)))
            .collect();
        assert_eq!(found, [("E022", 2), ("E020", 4)]);
    }
}
