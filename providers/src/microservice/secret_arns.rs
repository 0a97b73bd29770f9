//! The ARNs of the secrets a service references: task definitions need full ARNs, and the
//! execution role may read exactly those.

use panka_core::model::SecretEnv;
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::collections::BTreeMap;

/// Secret ARN by `secretRef`, for every secret of `secrets`.
///
/// Errors: `NotFound` naming the secret when one does not exist.
pub async fn resolve(
    client: &aws_sdk_secretsmanager::Client,
    secrets: &[SecretEnv],
) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut arns = BTreeMap::new();
    for secret in secrets {
        if arns.contains_key(&secret.secret_ref) {
            continue;
        }
        let arn = crate::secrets::resolve_arn(client, &secret.secret_ref, None)
            .await
            .map_err(|err| {
                let err = ProviderError {
                    message: format!("{} (for {})", err.message, secret.env_var),
                    ..err
                };
                if err.kind == ErrorKind::NotFound && err.hint.is_none() {
                    err.with_hint(
                        "create the secret in Secrets Manager first, or correct `secretRef`",
                    )
                } else {
                    err
                }
            })?;
        arns.insert(secret.secret_ref.clone(), arn);
    }
    Ok(arns)
}

/// Rejects JSON keys ECS cannot address, before anything is created.
pub fn check_keys(secrets: &[SecretEnv]) -> Result<(), ProviderError> {
    for secret in secrets {
        crate::secrets::value_from("arn", secret.key.as_deref())?;
    }
    Ok(())
}
