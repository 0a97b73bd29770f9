//! Who runs panka, as AWS knows it: the name recorded as *Deployed by*.
//!
//! STS `GetCallerIdentity` needs no permission and names the credentials actually used,
//! which a shared machine's `$USER` does not (a CI runner, a bastion, an assumed role).

use crate::sdk_error::provider_error;
use aws_types::SdkConfig;
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::time::Duration;

/// How long the one `GetCallerIdentity` call may take: the name is a convenience, never a
/// reason to hold up a deployment (offline, the caller falls back to `$USER@host`).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts of that call: one retry for a blip, not the five of panka's other calls,
/// whose backoff would make an offline run wait for a name it can do without.
const CALL_ATTEMPTS: u32 = 2;

/// The caller's user name or role session name (see [`name_from_arn`]).
///
/// Errors: the classified SDK error, `TimedOut` after [`CALL_TIMEOUT`], `Invalid` when STS
/// answers with an ARN that names nobody.
pub async fn caller_name(sdk_config: &SdkConfig) -> Result<String, ProviderError> {
    let config = aws_sdk_sts::config::Builder::from(sdk_config)
        .retry_config(
            aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(CALL_ATTEMPTS),
        )
        .build();
    let sts = aws_sdk_sts::Client::from_conf(config);
    let call = sts.get_caller_identity().send();
    let out = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| {
            ProviderError::new(
                ErrorKind::TimedOut,
                "STS GetCallerIdentity did not answer in time",
            )
        })?
        .map_err(|e| provider_error("cannot ask STS who the caller is", &e))?;
    let arn = out.arn().unwrap_or_default();
    name_from_arn(arn).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("STS named the caller `{arn}`, which holds no user or session name"),
        )
    })
}

/// The person behind an identity ARN: the session name of an assumed role
/// (`arn:aws:sts::1:assumed-role/Role/alice@company.com` → `alice@company.com`), the user
/// name of an IAM user (`arn:aws:iam::1:user/path/bob` → `bob`), `root` for the account's
/// root user, the user of a federated session.
pub fn name_from_arn(arn: &str) -> Option<String> {
    // arn:partition:service:region:account:resource — the resource may hold `:` itself.
    let resource = arn.splitn(6, ':').nth(5)?;
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let name = match kind {
        "assumed-role" => rest.split_once('/').map(|(_, session)| session)?,
        "user" | "federated-user" => rest.rsplit('/').next()?,
        "root" => "root",
        _ => return None,
    };
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_role_sessions_are_named() {
        let cases = [
            (
                "arn:aws:sts::123456789012:assumed-role/Deployer/alice@company.com",
                Some("alice@company.com"),
            ),
            ("arn:aws:iam::123456789012:user/bob", Some("bob")),
            (
                "arn:aws:iam::123456789012:user/team/ci/carol",
                Some("carol"),
            ),
            ("arn:aws-cn:iam::123456789012:root", Some("root")),
            (
                "arn:aws:sts::123456789012:federated-user/dave",
                Some("dave"),
            ),
            ("arn:aws:sts::123456789012:assumed-role/OnlyRole", None),
            ("arn:aws:iam::123456789012:user/", None),
            ("not an arn", None),
            ("", None),
        ];
        for (arn, name) in cases {
            assert_eq!(name_from_arn(arn).as_deref(), name, "{arn}");
        }
    }
}
