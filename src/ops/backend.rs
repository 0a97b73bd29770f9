//! Opens the state store and lock the configuration names: S3 + DynamoDB, or the local
//! embedded default under `.panka/`.

use super::aws::Aws;
use crate::config::{BackendConfig, Config, LockConfig};
use crate::error::UserError;
use panka_core::state::local::{LocalLock, LocalStore, default_root};
use panka_core::state::{StateLock, StateStore};
use panka_providers::lock_dynamodb::DynamoDbLock;
use panka_providers::state_s3::{Encryption, S3StateStore};
use std::path::Path;
use std::sync::Arc;

pub struct Backends {
    pub store: Arc<dyn StateStore>,
    pub lock: Arc<dyn StateLock>,
    /// How the walkthrough names where state lives: `Connecting to S3: bucket`.
    pub describe: String,
    pub is_local_lock: bool,
}

/// The store and lock `config` names; remote ones over the run's clients (`aws`).
pub async fn open(
    config: &Config,
    aws: &Aws,
    stack_dir: Option<&Path>,
) -> Result<Backends, UserError> {
    let local_root = || {
        stack_dir.map(default_root).ok_or_else(|| {
            UserError::new("the local backend keeps state next to the stack, and no stack folder was found")
                .hint("run panka inside your deployment repo, or configure an S3 backend with `panka init`")
        })
    };
    let (store, describe): (Arc<dyn StateStore>, String) = match &config.backend {
        BackendConfig::Local => {
            let root = local_root()?;
            let describe = format!("Using local state: {}", root.display());
            (Arc::new(LocalStore::new(&root)), describe)
        }
        BackendConfig::S3 {
            region,
            bucket,
            prefix,
            kms_key_id,
        } => {
            let clients = aws.clients(region.as_ref()).await;
            let encryption = match kms_key_id {
                Some(key_id) => Encryption::Kms {
                    key_id: key_id.clone(),
                },
                None => Encryption::Aes256,
            };
            (
                Arc::new(S3StateStore::new(
                    clients.s3.clone(),
                    bucket.clone(),
                    prefix.clone(),
                    encryption,
                )),
                format!("Connecting to S3: {bucket}"),
            )
        }
    };
    let (lock, is_local_lock): (Arc<dyn StateLock>, bool) = match &config.locks {
        LockConfig::Local => (Arc::new(LocalLock::new(local_root()?)), true),
        LockConfig::DynamoDb { region, table } => {
            let clients = aws.clients(region.as_ref()).await;
            (
                Arc::new(DynamoDbLock::new(clients.dynamodb.clone(), table.clone())),
                false,
            )
        }
    };
    Ok(Backends {
        store,
        lock,
        describe,
        is_local_lock,
    })
}
