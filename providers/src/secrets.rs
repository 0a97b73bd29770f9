//! Secrets Manager: checking every secret reference before anything changes, the ARNs
//! that ECS task definitions point at, and the one value panka ever reads — a database's
//! master password, at apply time.
//!
//! Secret values never leave this module except inside a [`Password`], whose `Debug` and
//! `Display` print `***`; no error message built here contains a value.

use crate::sdk_error::{Failure, provider_error};
use futures_util::StreamExt;
use panka_core::model::ComponentId;
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How many `DescribeSecret` calls a preflight runs at once: enough to check a large
/// stack in a few round trips, few enough to stay clear of Secrets Manager's rate limit.
const CONCURRENT_CHECKS: usize = 8;

// The JSON key a password is read from when the reference names none.
use panka_core::secret_keys::DEFAULT_PASSWORD_KEY;

/// One place where a stack refers to a secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretUse {
    /// The secret's name or ARN, as written.
    pub secret_ref: String,
    /// The component that refers to it.
    pub component: ComponentId,
    /// The file the reference is written in, as shown to the user.
    pub file: String,
    /// 1-based line of the reference.
    pub line: u32,
    /// 1-based column of the reference, in characters.
    pub column: u32,
}

impl SecretUse {
    /// `file:line:column`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a referenced secret cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MissingReason {
    /// No secret of that name or ARN exists in this account and region.
    NotFound,
    /// The identity panka runs as may not describe it (it may or may not exist).
    AccessDenied,
    /// It exists but is scheduled for deletion, so ECS and RDS cannot read it.
    ScheduledForDeletion,
    /// It exists, but its value cannot be read (`GetSecretValue` denied, or a KMS key
    /// the identity may not use).
    Unreadable,
    /// Its value lacks the JSON key the reference names (or is no JSON object).
    KeyMissing,
}

/// A reference to a secret that cannot be used, at the place it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    pub at: SecretUse,
    pub reason: MissingReason,
    /// What Secrets Manager said (error code and message, or the deletion date).
    pub detail: String,
}

impl MissingSecret {
    /// What to do about it.
    pub fn hint(&self) -> String {
        let name = &self.at.secret_ref;
        match self.reason {
            MissingReason::NotFound => format!(
                "create it (`aws secretsmanager create-secret --name {name} --secret-string …`) \
                 in the stack's account and region, or correct the reference"
            ),
            MissingReason::AccessDenied => format!(
                "allow secretsmanager:DescribeSecret on {name} for the identity panka runs as"
            ),
            MissingReason::ScheduledForDeletion => {
                format!("restore it with `aws secretsmanager restore-secret --secret-id {name}`")
            }
            MissingReason::Unreadable => format!(
                "allow secretsmanager:GetSecretValue on {name} (and kms:Decrypt on its key \
                 when it uses a customer-managed one) for the identity panka runs as"
            ),
            MissingReason::KeyMissing => {
                "add the key to the secret's JSON, or correct `key` in the reference".into()
            }
        }
    }
}

impl fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            MissingReason::NotFound => "does not exist",
            MissingReason::AccessDenied => "cannot be checked: access denied",
            MissingReason::ScheduledForDeletion => "is scheduled for deletion",
            MissingReason::Unreadable => "cannot be read",
            MissingReason::KeyMissing => "lacks the key it is used with",
        };
        write!(
            f,
            "{}: secret `{}` used by {} {what} ({})",
            self.at.location(),
            self.at.secret_ref,
            self.at.component,
            self.detail
        )
    }
}

/// Why a preflight did not pass.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PreflightError {
    /// Every unusable reference, one entry per place it is written, sorted by position.
    #[error("{} secret reference(s) cannot be used", .0.len())]
    Missing(Vec<MissingSecret>),
    /// The check itself failed (credentials, network, throttling beyond the SDK's retries),
    /// so nothing is known about the secrets.
    #[error(transparent)]
    Provider(ProviderError),
}

/// The outcome of checking one secret.
enum Check {
    Usable,
    Unusable(MissingReason, String),
    Failed(ProviderError),
}

/// Checks that every referenced secret exists and is usable, before anything changes.
///
/// Each distinct reference is described once (`DescribeSecret`, which needs no access to
/// the value), at most [`CONCURRENT_CHECKS`] at a time.
///
/// Errors: [`PreflightError::Missing`] with every unusable reference at once, each at
/// every place it is used; [`PreflightError::Provider`] when a check failed for another
/// reason (the first such failure in reference order, so the answer is deterministic).
pub async fn preflight(
    sm: &aws_sdk_secretsmanager::Client,
    uses: &[SecretUse],
) -> Result<(), PreflightError> {
    let refs: BTreeSet<&str> = uses.iter().map(|u| u.secret_ref.as_str()).collect();
    let checks: BTreeMap<&str, Check> = futures_util::stream::iter(refs)
        .map(|secret_ref| async move { (secret_ref, check(sm, secret_ref).await) })
        .buffer_unordered(CONCURRENT_CHECKS)
        .collect()
        .await;
    if let Some(failure) = checks.values().find_map(|c| match c {
        Check::Failed(e) => Some(e.clone()),
        _ => None,
    }) {
        return Err(PreflightError::Provider(failure));
    }
    let missing: Vec<MissingSecret> = uses
        .iter()
        .filter_map(|u| match checks.get(u.secret_ref.as_str()) {
            Some(Check::Unusable(reason, detail)) => Some(MissingSecret {
                at: u.clone(),
                reason: *reason,
                detail: detail.clone(),
            }),
            _ => None,
        })
        .collect();
    into_result(missing)
}

async fn check(sm: &aws_sdk_secretsmanager::Client, secret_ref: &str) -> Check {
    match sm.describe_secret().secret_id(secret_ref).send().await {
        Ok(out) => match out.deleted_date() {
            Some(date) => Check::Unusable(
                MissingReason::ScheduledForDeletion,
                format!("deletion date {date}"),
            ),
            None => Check::Usable,
        },
        Err(err) => {
            let failure = Failure::from_sdk(&err);
            let not_found = err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception())
                || failure.is_code("ResourceNotFoundException")
                // A name Secrets Manager rejects cannot exist either.
                || failure.is_code("InvalidParameterException");
            if not_found {
                Check::Unusable(MissingReason::NotFound, failure.detail)
            } else if failure.is_access_denied() {
                Check::Unusable(MissingReason::AccessDenied, failure.detail)
            } else {
                Check::Failed(
                    failure.into_provider_error(&format!("cannot check secret `{secret_ref}`")),
                )
            }
        }
    }
}

/// One reference as apply will use it: besides existing, a secret whose value panka
/// reads (an RDS master password) must be readable and hold its key, and a JSON key an
/// ECS secret names must be present, or the task would fail to start long after apply
/// went on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretCheck {
    pub at: SecretUse,
    /// The JSON key named by the reference.
    pub key: Option<String>,
    /// panka itself reads the value (an RDS master password): `key` defaults to
    /// `password` for JSON secrets and a plain string is the password.
    pub password: bool,
    /// `key` was filled by the secret key rule (the key a database the component
    /// depends on reads from the same secret), not written.
    pub key_inferred: bool,
}

/// A key-less ECS reference to a secret whose value is a JSON object: ECS will inject
/// the whole document. Not an error (an application may parse JSON itself), but rarely
/// what is meant. Holds key names only, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretWarning {
    pub at: SecretUse,
    /// The object's keys, sorted.
    pub keys: Vec<String>,
}

impl SecretWarning {
    /// What to write to inject one value instead.
    pub fn hint(&self) -> String {
        match self.keys.first() {
            Some(first) => format!(
                "add `key: {first}` under this reference to inject one value (its keys are: {})",
                self.keys.join(", ")
            ),
            None => "it is an empty JSON object; store the value the application needs".into(),
        }
    }
}

impl fmt::Display for SecretWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: secret `{}` used by {} is a JSON object and has no `key`, so the whole JSON \
             document is injected",
            self.at.location(),
            self.at.secret_ref,
            self.at.component
        )
    }
}

/// Checks every reference before anything changes: existence for all (as [`preflight`]),
/// then, for the secrets that exist, the value where it matters (see [`SecretCheck`]).
/// Each secret's value is read at most once, held only while checked, and never shown.
///
/// Returns a warning for each key-less ECS reference whose secret is a JSON object. Such
/// a value is read only to see its shape: when it cannot be read (panka's identity need
/// not read the application's secrets; ECS reads them), there is simply no warning.
///
/// Errors: as [`preflight`], with [`MissingReason::Unreadable`] and
/// [`MissingReason::KeyMissing`] among the reasons.
pub async fn preflight_checks(
    sm: &aws_sdk_secretsmanager::Client,
    checks: &[SecretCheck],
) -> Result<Vec<SecretWarning>, PreflightError> {
    let uses: Vec<SecretUse> = checks.iter().map(|c| c.at.clone()).collect();
    let mut missing = match preflight(sm, &uses).await {
        Ok(()) => Vec::new(),
        Err(PreflightError::Missing(missing)) => missing,
        Err(other) => return Err(other),
    };
    let absent: BTreeSet<&str> = missing.iter().map(|m| m.at.secret_ref.as_str()).collect();
    let to_read: BTreeSet<&str> = checks
        .iter()
        .map(|c| c.at.secret_ref.as_str())
        .filter(|r| !absent.contains(r))
        .collect();
    // Secrets read only for a warning: their failures say nothing apply depends on.
    let warn_only: BTreeSet<&str> = to_read
        .iter()
        .copied()
        .filter(|r| {
            checks
                .iter()
                .filter(|c| c.at.secret_ref == *r)
                .all(|c| !c.password && c.key.is_none())
        })
        .collect();
    let values: BTreeMap<&str, Read> = futures_util::stream::iter(to_read)
        .map(|secret_ref| async move { (secret_ref, read_value(sm, secret_ref).await) })
        .buffer_unordered(CONCURRENT_CHECKS)
        .collect()
        .await;
    if let Some(failure) = values.iter().find_map(|(r, read)| match read {
        Read::Failed(e) if !warn_only.contains(r) => Some(e.clone()),
        _ => None,
    }) {
        return Err(PreflightError::Provider(failure));
    }
    let mut warnings = Vec::new();
    for check in checks {
        let read = values.get(check.at.secret_ref.as_str());
        if !check.password
            && check.key.is_none()
            && let Some(Read::Value(Some(text))) = read
            && let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text)
        {
            let mut keys: Vec<String> = object.keys().cloned().collect();
            keys.sort_unstable();
            warnings.push(SecretWarning {
                at: check.at.clone(),
                keys,
            });
        }
        let problem = match read {
            None | Some(Read::Failed(_)) => None,
            Some(Read::Unusable(..)) if warn_only.contains(check.at.secret_ref.as_str()) => None,
            Some(Read::Unusable(reason, detail)) => Some((*reason, detail.clone())),
            Some(Read::Value(text)) => value_problem(check, text.as_deref()),
        };
        if let Some((reason, detail)) = problem {
            missing.push(MissingSecret {
                at: check.at.clone(),
                reason,
                detail,
            });
        }
    }
    warnings.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column).cmp(&(&b.at.file, b.at.line, b.at.column))
    });
    warnings.dedup();
    into_result(missing).map(|()| warnings)
}

/// A secret's value as the preflight sees it.
enum Read {
    /// The secret string; `None` for a binary secret.
    Value(Option<String>),
    Unusable(MissingReason, String),
    /// The read failed for a reason that says nothing about the secret (network,
    /// throttling beyond the SDK's retries).
    Failed(ProviderError),
}

async fn read_value(sm: &aws_sdk_secretsmanager::Client, secret_ref: &str) -> Read {
    match sm.get_secret_value().secret_id(secret_ref).send().await {
        Ok(out) => Read::Value(out.secret_string().map(str::to_string)),
        Err(err) => {
            let failure = Failure::from_sdk(&err);
            if failure.is_access_denied() || failure.is_code("DecryptionFailure") {
                Read::Unusable(MissingReason::Unreadable, failure.detail)
            } else if failure.is_code("ResourceNotFoundException") {
                // Described a moment ago: deleted since, or it has no current version.
                Read::Unusable(MissingReason::NotFound, failure.detail)
            } else {
                Read::Failed(
                    failure.into_provider_error(&format!("cannot read secret `{secret_ref}`")),
                )
            }
        }
    }
}

/// What is wrong with a readable value for this reference, in words that never contain
/// the value.
fn value_problem(check: &SecretCheck, text: Option<&str>) -> Option<(MissingReason, String)> {
    let secret_ref = &check.at.secret_ref;
    let Some(text) = text else {
        return check.password.then(|| {
            (
                MissingReason::KeyMissing,
                "it holds binary data, not a password string".to_string(),
            )
        });
    };
    if check.password {
        return password_from(secret_ref, text, check.key.as_deref())
            .err()
            .map(|e| {
                let detail = match e.hint {
                    Some(h) => format!("{}; {h}", e.message),
                    None => e.message,
                };
                (MissingReason::KeyMissing, detail)
            });
    }
    let key = check.key.as_deref()?;
    // Why a key nobody wrote is there, so the message does not puzzle.
    let why = if check.key_inferred {
        format!(
            " (`key: {key}` was not written: it is the key the database this component \
             depends on reads from the same secret)"
        )
    } else {
        String::new()
    };
    let problem = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) if object.contains_key(key) => None,
        Ok(serde_json::Value::Object(object)) => {
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            Some((
                MissingReason::KeyMissing,
                format!("no key `{key}`; its keys are: {}", keys.join(", ")),
            ))
        }
        _ => Some((
            MissingReason::KeyMissing,
            format!("it is not a JSON object, so it has no key `{key}`"),
        )),
    };
    problem.map(|(reason, detail)| (reason, format!("{detail}{why}")))
}

/// The secret's full ARN (with the 6-character suffix Secrets Manager adds), as ECS
/// task definitions want it in `valueFrom`; with `key`, the ARN of that JSON key:
/// `arn:aws:secretsmanager:…:secret:name-AbCdEf:key::`.
///
/// Errors: `NotFound` when the secret does not exist, `Invalid` for a key ECS cannot
/// address, and the classified SDK error otherwise.
pub async fn resolve_arn(
    sm: &aws_sdk_secretsmanager::Client,
    secret_ref: &str,
    key: Option<&str>,
) -> Result<String, ProviderError> {
    let out = sm
        .describe_secret()
        .secret_id(secret_ref)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot look up secret `{secret_ref}`"), &e))?;
    let arn = out.arn().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            format!("Secrets Manager returned no ARN for `{secret_ref}`"),
        )
    })?;
    value_from(arn, key)
}

/// The `valueFrom` of an ECS secret: the ARN, or `<arn>:<key>::` (the JSON key, then the
/// empty version stage and version id, which mean the current version).
pub fn value_from(arn: &str, key: Option<&str>) -> Result<String, ProviderError> {
    match key {
        None => Ok(arn.to_string()),
        Some(key) if key.is_empty() || key.contains(':') => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{key}` cannot be used as a JSON key of an ECS secret"),
        )
        .with_hint("ECS addresses JSON keys as `<arn>:<key>::`, so a key must be non-empty and hold no `:`")),
        Some(key) => Ok(format!("{arn}:{key}::")),
    }
}

/// A secret value: `Debug` and `Display` print `***`, so it cannot reach logs, plans or
/// error messages by accident. Read it with [`Password::expose`] where it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    /// The value, for the one request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Reads a password from Secrets Manager (`GetSecretValue`).
///
/// A secret string that is a JSON object gives its `key`, or its `password` when no key
/// is named; any other string is the password as a whole (a `key` is then an error).
///
/// Errors: the classified SDK error (`NotFound`, `AccessDenied`, …); `Invalid` when the
/// secret is binary, empty, lacks the key, or the key's value is not a string or number.
/// No message contains the value.
pub async fn read_password(
    sm: &aws_sdk_secretsmanager::Client,
    secret_ref: &str,
    key: Option<&str>,
) -> Result<Password, ProviderError> {
    let out = sm.get_secret_value().secret_id(secret_ref).send().await.map_err(|e| {
        let err = provider_error(&format!("cannot read secret `{secret_ref}`"), &e);
        if err.kind == ErrorKind::AccessDenied && err.hint.is_none() {
            err.with_hint(format!(
                "allow secretsmanager:GetSecretValue on {secret_ref} (and kms:Decrypt on its key when it uses a customer-managed one)"
            ))
        } else {
            err
        }
    })?;
    let text = out.secret_string().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("secret `{secret_ref}` holds binary data, not a password string"),
        )
    })?;
    password_from(secret_ref, text, key)
}

/// Picks the password out of a secret string (see [`read_password`]).
fn password_from(
    secret_ref: &str,
    text: &str,
    key: Option<&str>,
) -> Result<Password, ProviderError> {
    let invalid = |message: String| ProviderError::new(ErrorKind::Invalid, message);
    let object = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => object,
        // A plain string, or JSON that is no object (a bare number is a fine password).
        _ => {
            return match key {
                Some(key) => Err(invalid(format!(
                    "secret `{secret_ref}` is not a JSON object, so it has no key `{key}`"
                ))
                .with_hint(
                    "remove `key` to use the whole secret string, or store the secret as JSON",
                )),
                None if text.is_empty() => Err(invalid(format!("secret `{secret_ref}` is empty"))),
                None => Ok(Password::new(text)),
            };
        }
    };
    let name = key.unwrap_or(DEFAULT_PASSWORD_KEY);
    match object.get(name) {
        Some(serde_json::Value::String(value)) if !value.is_empty() => {
            Ok(Password::new(value.as_str()))
        }
        Some(serde_json::Value::String(_)) => Err(invalid(format!(
            "key `{name}` of secret `{secret_ref}` is empty"
        ))),
        Some(serde_json::Value::Number(value)) => Ok(Password::new(value.to_string())),
        Some(_) => Err(invalid(format!(
            "key `{name}` of secret `{secret_ref}` is not a string"
        ))),
        None => {
            // Key names are not secret, and they are what the user needs to fix the reference.
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            Err(
                invalid(format!("secret `{secret_ref}` has no key `{name}`")).with_hint(format!(
                    "its keys are: {}; name one with `key:`",
                    keys.join(", ")
                )),
            )
        }
    }
}

/// Every problem once, in file order, or none.
fn into_result(mut missing: Vec<MissingSecret>) -> Result<(), PreflightError> {
    missing.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column, &a.at.secret_ref).cmp(&(
            &b.at.file,
            b.at.line,
            b.at.column,
            &b.at.secret_ref,
        ))
    });
    missing.dedup();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::operation::describe_secret::{
        DescribeSecretError, DescribeSecretOutput,
    };
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const VALUE: &str = "s3cr3t-value-9876";

    #[test]
    fn json_secrets_give_the_password_key_or_the_named_one() {
        let text = format!(r#"{{"password":"{VALUE}","other":"x"}}"#);
        assert_eq!(password_from("r", &text, None).unwrap().expose(), VALUE);
        assert_eq!(
            password_from("r", &text, Some("other")).unwrap().expose(),
            "x"
        );
        assert_eq!(
            password_from("r", r#"{"pin": 1234}"#, Some("pin"))
                .unwrap()
                .expose(),
            "1234"
        );
    }

    #[test]
    fn plain_strings_are_the_password() {
        assert_eq!(password_from("r", VALUE, None).unwrap().expose(), VALUE);
        assert_eq!(password_from("r", "12345", None).unwrap().expose(), "12345");
    }

    #[test]
    fn errors_name_the_secret_and_key_but_never_the_value() {
        let cases = [
            password_from("r", &format!(r#"{{"pass":"{VALUE}"}}"#), None),
            password_from("r", &format!(r#"{{"password":["{VALUE}"]}}"#), None),
            password_from("r", VALUE, Some("password")),
            password_from("r", "", None),
            password_from("r", r#"{"password":""}"#, None),
        ];
        for case in cases {
            let err = case.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid);
            let shown = format!("{err:?} {err}");
            assert!(!shown.contains(VALUE), "{shown}");
            assert!(shown.contains("`r`"), "{shown}");
        }
        let err = password_from("r", &format!(r#"{{"pass":"{VALUE}"}}"#), None).unwrap_err();
        assert!(err.message.contains("no key `password`"), "{err}");
        assert_eq!(
            err.hint.as_deref(),
            Some("its keys are: pass; name one with `key:`")
        );
    }

    #[test]
    fn passwords_never_print() {
        let password = Password::new(VALUE);
        assert_eq!(format!("{password}"), "***");
        assert_eq!(format!("{password:?}"), "***");
        assert_eq!(format!("{:?}", Some(&password)), "Some(***)");
        assert_eq!(password.expose(), VALUE);
    }

    #[test]
    fn value_from_appends_the_json_key() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        assert_eq!(value_from(arn, None).unwrap(), arn);
        assert_eq!(
            value_from(arn, Some("password")).unwrap(),
            format!("{arn}:password::")
        );
        assert_eq!(
            value_from(arn, Some("a:b")).unwrap_err().kind,
            ErrorKind::Invalid
        );
    }

    fn at(secret_ref: &str, line: u32) -> SecretUse {
        SecretUse {
            secret_ref: secret_ref.into(),
            component: ComponentId::new("svc", "api"),
            file: "services/svc/components/api/microservice.yaml".into(),
            line,
            column: 18,
        }
    }

    /// moto cannot deny access; a real account can, and that is not "not found".
    #[tokio::test]
    async fn access_denied_and_not_found_are_told_apart() {
        let rule =
            mock!(aws_sdk_secretsmanager::Client::describe_secret).then_compute_response(|req| {
                use aws_smithy_mocks::MockResponse;
                match req.secret_id() {
                    Some("denied") => MockResponse::Error(DescribeSecretError::generic(
                        ErrorMetadata::builder()
                            .code("AccessDeniedException")
                            .message(
                                "User is not authorized to perform: secretsmanager:DescribeSecret",
                            )
                            .build(),
                    )),
                    Some("gone") => {
                        MockResponse::Error(DescribeSecretError::ResourceNotFoundException(
                            ResourceNotFoundException::builder()
                                .message("not found")
                                .build(),
                        ))
                    }
                    _ => MockResponse::Output(DescribeSecretOutput::builder().arn("arn:x").build()),
                }
            });
        let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let uses = [at("gone", 3), at("ok", 4), at("denied", 5), at("gone", 9)];
        let Err(PreflightError::Missing(missing)) = preflight(&sm, &uses).await else {
            panic!("expected missing secrets");
        };
        let got: Vec<(u32, MissingReason)> =
            missing.iter().map(|m| (m.at.line, m.reason)).collect();
        assert_eq!(
            got,
            [
                (3, MissingReason::NotFound),
                (5, MissingReason::AccessDenied),
                (9, MissingReason::NotFound)
            ]
        );
        assert_eq!(
            rule.num_calls(),
            3,
            "each distinct reference is described once"
        );
        assert!(
            missing[1].to_string().contains("access denied"),
            "{}",
            missing[1]
        );
    }

    #[tokio::test]
    async fn other_failures_are_provider_errors() {
        let rule = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_error(|| {
            DescribeSecretError::generic(
                ErrorMetadata::builder()
                    .code("InternalServiceError")
                    .message("boom")
                    .build(),
            )
        });
        let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let Err(PreflightError::Provider(err)) = preflight(&sm, &[at("a", 1)]).await else {
            panic!("expected a provider error");
        };
        assert!(err.message.contains("cannot check secret `a`"), "{err}");
    }

    fn checked(secret_ref: &str, line: u32, key: Option<&str>, password: bool) -> SecretCheck {
        SecretCheck {
            at: at(secret_ref, line),
            key: key.map(str::to_string),
            password,
            key_inferred: false,
        }
    }

    /// Values: an RDS password needs its key (default `password`), an ECS key must be in
    /// the JSON, a value that cannot be read is named; no message shows a value.
    #[tokio::test]
    async fn values_are_checked_where_apply_will_need_them() {
        use aws_sdk_secretsmanager::operation::get_secret_value::{
            GetSecretValueError, GetSecretValueOutput,
        };
        use aws_smithy_mocks::MockResponse;
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .then_compute_response(|req| match req.secret_id() {
                Some("gone") => {
                    MockResponse::Error(DescribeSecretError::ResourceNotFoundException(
                        ResourceNotFoundException::builder().message("nope").build(),
                    ))
                }
                _ => MockResponse::Output(DescribeSecretOutput::builder().arn("arn:x").build()),
            });
        let get =
            mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_response(|req| {
                match req.secret_id() {
                    Some("locked" | "app-locked") => {
                        MockResponse::Error(GetSecretValueError::generic(
                            ErrorMetadata::builder()
                                .code("AccessDeniedException")
                                .message("not authorized to perform: secretsmanager:GetSecretValue")
                                .build(),
                        ))
                    }
                    Some("json") => MockResponse::Output(
                        GetSecretValueOutput::builder()
                            .secret_string(format!(r#"{{"password":"{VALUE}","api":"{VALUE}"}}"#))
                            .build(),
                    ),
                    _ => MockResponse::Output(
                        GetSecretValueOutput::builder().secret_string(VALUE).build(),
                    ),
                }
            });
        let sm = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &get]
        );
        let checks = [
            checked("json", 1, None, true),          // password key: fine
            checked("json", 2, Some("api"), false),  // ECS key present: fine
            checked("json", 3, Some("smtp"), false), // ECS key missing
            checked("plain", 4, None, true),         // plain password: fine
            checked("plain", 5, Some("x"), false),   // no JSON, so no key
            checked("plain", 6, None, false),        // ECS, whole plain secret: fine
            checked("locked", 7, None, true),        // cannot be read
            checked("gone", 8, Some("k"), true),     // missing: not read
            checked("json", 9, Some("user"), true),  // password key missing
            checked("json", 10, None, false),        // ECS, whole JSON: a warning
            checked("app-locked", 11, None, false),  // ECS, unreadable to panka: fine
        ];
        let Err(PreflightError::Missing(missing)) = preflight_checks(&sm, &checks).await else {
            panic!("expected problems");
        };
        let got: Vec<(u32, MissingReason)> =
            missing.iter().map(|m| (m.at.line, m.reason)).collect();
        assert_eq!(
            got,
            [
                (3, MissingReason::KeyMissing),
                (5, MissingReason::KeyMissing),
                (7, MissingReason::Unreadable),
                (8, MissingReason::NotFound),
                (9, MissingReason::KeyMissing),
            ]
        );
        assert_eq!(get.num_calls(), 4, "each value read once");
        for m in &missing {
            let shown = format!("{m} {} {m:?}", m.hint());
            assert!(!shown.contains(VALUE), "{shown}");
        }
        assert!(
            missing[0].to_string().contains("no key `smtp`"),
            "{}",
            missing[0]
        );
        assert!(
            missing[0].to_string().contains("api, password"),
            "{}",
            missing[0]
        );
        assert!(missing[2].hint().contains("GetSecretValue"));
        assert_eq!(preflight_checks(&sm, &checks[..2]).await, Ok(Vec::new()));

        let warnings = preflight_checks(&sm, &checks[9..])
            .await
            .expect("only a warning");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].at.line, 10);
        let shown = format!("{} {} {:?}", warnings[0], warnings[0].hint(), warnings[0]);
        assert!(!shown.contains(VALUE), "{shown}");
        assert!(
            warnings[0]
                .hint()
                .starts_with("add `key: api` under this reference"),
            "{shown}"
        );
        assert!(
            shown.contains("services/svc/components/api/microservice.yaml:10:18"),
            "{shown}"
        );
    }

    /// A key filled by the secret key rule on a secret that is no JSON object says why
    /// the key is there.
    #[test]
    fn an_inferred_key_explains_itself() {
        let mut check = checked("plain", 1, Some("password"), false);
        check.key_inferred = true;
        let (reason, detail) = value_problem(&check, Some(VALUE)).expect("a problem");
        assert_eq!(reason, MissingReason::KeyMissing);
        assert!(detail.contains("was not written"), "{detail}");
        assert!(!detail.contains(VALUE), "{detail}");
    }
}
