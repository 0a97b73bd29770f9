//! `panka init`: writes the configuration file the walkthrough shows.

use super::{Exit, interactive, prompt};
use crate::cli::{GlobalArgs, InitArgs};
use crate::config::{BackendConfig, Config, LockConfig};
use crate::contract::{BootstrapDocument, BootstrapLocalDocument, Bootstrapped, InitDocument};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use std::path::Path;

/// What `panka init` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitConfig {
    pub region: String,
    /// `None`: local state and locks under `.panka/` in the deployment repo.
    pub bucket: Option<String>,
    pub table: String,
    pub prefix: Option<String>,
    pub profile: String,
}

pub const DEFAULT_TABLE: &str = "panka-locks";

impl InitConfig {
    /// The file's text; every value is validated before, so plain scalars are safe.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("version: v1\n");
        match &self.bucket {
            Some(bucket) => {
                out.push_str(&format!(
                    "backend:\n  type: s3\n  region: {}\n  bucket: {bucket}\n",
                    self.region
                ));
                if let Some(prefix) = &self.prefix {
                    out.push_str(&format!("  prefix: \"{prefix}\"\n"));
                }
                out.push_str(&format!(
                    "locks:\n  type: dynamodb\n  region: {}\n  table: {}\n",
                    self.region, self.table
                ));
            }
            None => out.push_str("backend:\n  type: local\nlocks:\n  type: local\n"),
        }
        out.push_str(&format!(
            "aws:\n  profile: {}\n  region: {}\n",
            self.profile, self.region
        ));
        out
    }
}

fn check_region(region: &str) -> Result<(), UserError> {
    if panka_core::model::looks_like_region(region) {
        Ok(())
    } else {
        Err(UserError::new(format!("`{region}` is not an AWS region"))
            .hint("for example us-east-1"))
    }
}

/// S3 bucket naming rules (general purpose buckets).
fn check_bucket(bucket: &str) -> Result<(), UserError> {
    let len_ok = (3..=63).contains(&bucket.len());
    let chars_ok = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if len_ok && chars_ok && ends_ok && !bucket.contains("..") {
        Ok(())
    } else {
        Err(UserError::new(format!("`{bucket}` is not a valid S3 bucket name"))
            .hint("3–63 characters: lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit"))
    }
}

fn check_table(table: &str) -> Result<(), UserError> {
    let ok = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(
            UserError::new(format!("`{table}` is not a valid DynamoDB table name"))
                .hint("3–255 characters: letters, digits, `_`, `-` and `.`"),
        )
    }
}

fn check_profile(profile: &str) -> Result<(), UserError> {
    let ok = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "`{profile}` is not a valid AWS profile name"
        )))
    }
}

fn check_prefix(prefix: &str) -> Result<(), UserError> {
    let ok = !prefix.starts_with('/')
        && !prefix.contains('"')
        && !prefix.contains('\\')
        && !prefix.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(
            UserError::new(format!("`{prefix}` is not a usable key prefix"))
                .hint("e.g. team-a/ (no leading slash, no quotes)"),
        )
    }
}

pub async fn run(
    args: &InitArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let path = env.config_path(global.config.as_ref())?;
    let only_bootstrap = args.bootstrap
        && !args.force
        && [
            &args.region,
            &args.bucket,
            &args.table,
            &args.profile,
            &args.prefix,
        ]
        .iter()
        .all(|a| a.is_none());
    if only_bootstrap && path.exists() {
        let config = crate::ops::target::read_config(Some(&path), env, ui)?;
        return bootstrap(&config, global, env, ui).await;
    }
    if path.exists() && !args.force {
        return Err(UserError::new(format!("{} already exists", path.display()))
            .hint("pass --force to replace it, or --config FILE to write another")
            .into());
    }
    let default_region = env
        .aws_region
        .clone()
        .unwrap_or_else(|| "us-east-1".to_string());
    let ask = !args.yes && interactive();
    if !args.yes && !ask && args.bucket.is_none() {
        return Err(
            UserError::new("no terminal to ask on, and --bucket was not given")
                .hint("pass --region, --bucket, --table and --profile, or --yes for local state")
                .into(),
        );
    }
    if ask {
        ui.err("\nWelcome to Panka!\n\n");
    }
    let region = match (&args.region, ask) {
        (Some(r), _) => r.clone(),
        (None, true) => prompt("AWS Region", Some(&default_region))?,
        (None, false) => default_region,
    };
    check_region(&region)?;
    let bucket = match (&args.bucket, ask) {
        (Some(b), _) => Some(b.clone()),
        (None, true) => {
            let answer = prompt("S3 Bucket for state (press Enter for local state)", None)?;
            (!answer.is_empty()).then_some(answer)
        }
        (None, false) => None,
    };
    if let Some(b) = &bucket {
        check_bucket(b)?;
    }
    let table = match (&args.table, ask && bucket.is_some()) {
        (Some(t), _) => t.clone(),
        (None, true) => prompt("DynamoDB Table for locks", Some(DEFAULT_TABLE))?,
        (None, false) => DEFAULT_TABLE.to_string(),
    };
    check_table(&table)?;
    let profile = match (&args.profile, ask) {
        (Some(p), _) => p.clone(),
        (None, true) => prompt("AWS Profile (press Enter for default)", None)?,
        (None, false) => String::new(),
    };
    let profile = if profile.is_empty() {
        "default".to_string()
    } else {
        profile
    };
    check_profile(&profile)?;
    if let Some(prefix) = &args.prefix {
        check_prefix(prefix)?;
    }
    let config = InitConfig {
        region,
        bucket,
        table,
        prefix: args.prefix.clone(),
        profile,
    };
    write_config(&path, &config.to_yaml())?;
    if !ui.is_json() {
        ui.out(&format!("\n✓ Configuration saved to {}\n", path.display()));
    }
    if args.bootstrap {
        let mut sources = panka_core::source::Sources::default();
        let mut diags = panka_core::diag::Diagnostics::default();
        let written = crate::settings::config(Some(&path), env, &mut sources, &mut diags)?;
        return bootstrap(&written, global, env, ui).await;
    }
    if ui.is_json() {
        ui.json(&InitDocument {
            config: path.display().to_string(),
            backend: if config.bucket.is_some() {
                "s3"
            } else {
                "local"
            },
        });
    }
    Ok(Exit::Success)
}

/// Creates the state bucket and lock table the configuration names, when missing.
async fn bootstrap(
    config: &Config,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let (
        BackendConfig::S3 {
            region: bucket_region,
            bucket,
            ..
        },
        LockConfig::DynamoDb {
            region: table_region,
            table,
        },
    ) = (&config.backend, &config.locks)
    else {
        if ui.is_json() {
            ui.json(&BootstrapLocalDocument {
                bootstrap: "nothing to create: local backend",
            });
        } else {
            ui.out("Nothing to bootstrap: state and locks are local (under .panka/ in the deployment repo).\n");
        }
        return Ok(Exit::Success);
    };
    let region = bucket_region.as_ref().or(table_region.as_ref());
    let endpoint = crate::settings::endpoint_url(global.endpoint_url.as_ref(), env);
    let aws = crate::ops::aws::Aws::new(config, endpoint);
    let (sdk, clients) = aws.for_region(region).await;
    let region = aws
        .settings(region)
        .region
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".into());
    let report = panka_providers::bootstrap::bootstrap(&clients, &region, bucket, table)
        .await
        .map_err(UserError::from)?;
    if ui.is_json() {
        ui.json(&BootstrapDocument {
            bucket: Bootstrapped {
                name: bucket,
                created: report.bucket_created(),
            },
            table: Bootstrapped {
                name: table,
                created: report.table_created(),
            },
        });
    } else {
        let line = |what: &str, name: &str, created: bool, detail: &str| {
            if created {
                format!("✓ Created {what} {name} ({detail})\n")
            } else {
                format!("✓ {what} {name} already exists ({detail} checked)\n")
            }
        };
        ui.out(&line(
            "bucket",
            bucket,
            report.bucket_created(),
            "versioning, encryption, public access blocked",
        ));
        ui.out(&line(
            "table",
            table,
            report.table_created(),
            "LockID key, on-demand, TTL on ExpiresAt",
        ));
    }
    Ok(Exit::Success)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_walkthrough_schema() {
        let config = InitConfig {
            region: "us-east-1".into(),
            bucket: Some("company-panka-state".into()),
            table: "company-panka-locks".into(),
            prefix: None,
            profile: "default".into(),
        };
        assert_eq!(
            config.to_yaml(),
            "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: company-panka-state\nlocks:\n  type: dynamodb\n  region: us-east-1\n  table: company-panka-locks\naws:\n  profile: default\n  region: us-east-1\n"
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert!(check_bucket("Company_State").is_err());
        assert!(check_bucket("ok-bucket.name").is_ok());
        assert!(check_table("a").is_err());
        assert!(check_region("useast1").is_err());
    }
}
