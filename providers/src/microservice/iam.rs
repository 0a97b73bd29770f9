//! The component's two IAM roles.
//!
//! - The task execution role: what ECS uses to pull the image, write the logs and read the
//!   secrets, and nothing more — an inline policy naming exactly this component's log
//!   group, secrets and ECR repository.
//! - The task role: the application's own credentials — an inline policy with the grants
//!   of the components it references (`crate::grants`) and its declared `permissions`.

use crate::grants::Statement;
use crate::sdk_error::provider_error;
use crate::shared::gone::none_if_gone;
use crate::shared::ownership::check_owned;
use aws_sdk_iam::types::Tag;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Lets ECS tasks assume the role; with `source_account`, only tasks of that account
/// (`aws:SourceAccount`, against the confused deputy).
///
/// The task role gets the condition, as ECS documents for task roles. The execution role
/// does not: ECS documents no confused-deputy condition for it, and a trust policy ECS
/// cannot satisfy would stop every task from starting, which no emulator would show.
pub fn trust_policy(source_account: Option<&str>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole"
    });
    if let Some(account) = source_account {
        statement["Condition"] = json!({"StringEquals": {"aws:SourceAccount": account}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// The account of an ARN (`arn:partition:service:region:account:…`), when it names one.
pub fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())).then_some(account)
}

/// The task role's inline policy: one `Allow` statement per entry, the key as its `Sid`.
pub fn task_policy(statements: &BTreeMap<String, Statement>) -> Value {
    let statements: Vec<Value> = statements
        .iter()
        .map(|(sid, s)| {
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": s.actions,
                "Resource": s.resources
            })
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A live policy document's statements by `Sid` (`Statement<n>` when it has none), the
/// same shape [`task_policy`] writes: what `read` reports, hand edits included.
pub fn statements_of(document: &Value) -> BTreeMap<String, Statement> {
    let list = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut out = BTreeMap::new();
    for (i, statement) in list.iter().enumerate() {
        let mut rest = statement.as_object().cloned().unwrap_or_default();
        let sid = rest
            .remove("Sid")
            .and_then(|s| s.as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("Statement{i}"));
        let mut parsed = Statement::allow(
            strings(&rest.remove("Action").unwrap_or(Value::Null)),
            strings(&rest.remove("Resource").unwrap_or(Value::Null)),
        );
        if rest.get("Effect").and_then(Value::as_str) == Some("Allow") {
            rest.remove("Effect");
        }
        if !rest.is_empty() {
            parsed.other = Some(Value::Object(rest));
        }
        out.insert(sid, parsed);
    }
    out
}

/// The ECR repository ARN of an image in ECR
/// (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>`), else `None`.
pub fn ecr_repository_arn(repository: &str) -> Option<String> {
    let (host, name) = repository.split_once('/')?;
    let (account, rest) = host.split_once(".dkr.ecr")?;
    let rest = rest.strip_prefix("-fips").unwrap_or(rest);
    let rest = rest.strip_prefix('.')?;
    let (region, partition) = if let Some(region) = rest.strip_suffix(".amazonaws.com.cn") {
        (region, "aws-cn")
    } else {
        (rest.strip_suffix(".amazonaws.com")?, "aws")
    };
    let valid = account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !region.is_empty()
        && !name.is_empty();
    valid.then(|| format!("arn:{partition}:ecr:{region}:{account}:repository/{name}"))
}

/// The inline policy: log streams of `log_streams_arn`, `GetSecretValue` on exactly
/// `secret_arns`, and ECR pulls from `ecr_repository` when the image lives in ECR.
pub fn execution_policy(
    log_streams_arn: &str,
    secret_arns: &[String],
    ecr_repository: Option<&str>,
) -> Value {
    let mut statements = vec![json!({
        "Sid": "WriteLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": log_streams_arn
    })];
    if !secret_arns.is_empty() {
        let mut arns = secret_arns.to_vec();
        arns.sort();
        arns.dedup();
        statements.push(json!({
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arns
        }));
    }
    if let Some(repository) = ecr_repository {
        statements.push(json!({
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": repository
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// IAM returns policy documents URL-encoded (RFC 3986); some emulators send them plain.
pub fn decode_policy(document: &str) -> Result<Value, ProviderError> {
    let text = if document.trim_start().starts_with('{') {
        document.to_string()
    } else {
        percent_decode(document)?
    };
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("an IAM policy document is not JSON: {e}"),
        )
    })
}

fn percent_decode(text: &str) -> Result<String, ProviderError> {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("an IAM policy document is not UTF-8: {e}"),
        )
    })
}

/// The role's ARN, or `None` when there is no such role.
pub async fn role_arn(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    Ok(find_role(client, name).await?.map(|r| r.arn))
}

/// A role as found: its ARN and trust policy.
pub struct LiveRole {
    pub arn: String,
    pub trust: Option<Value>,
}

/// The role `name`, or `None` when there is no such role.
pub async fn find_role(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<LiveRole>, ProviderError> {
    let out = none_if_gone(
        client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up IAM role {name}"), &e)),
    )?;
    let Some(role) = out.as_ref().and_then(|o| o.role()) else {
        return Ok(None);
    };
    let trust = role
        .assume_role_policy_document()
        .map(decode_policy)
        .transpose()?;
    Ok(Some(LiveRole {
        arn: role.arn().to_string(),
        trust,
    }))
}

/// What [`ensure`] makes a role: its trust policy, description and inline policy (`None`:
/// no inline policy, and one found is deleted).
pub struct RoleSpec<'a> {
    pub name: &'a str,
    pub description: String,
    pub trust: Value,
    pub policy_name: &'a str,
    pub policy: Option<Value>,
}

pub async fn role_tags(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the tags of IAM role {name}"), &e))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

/// Creates or adopts the role, converges its trust policy and sets its inline policy;
/// returns its ARN.
pub async fn ensure(
    client: &aws_sdk_iam::Client,
    ctx: &ResourceContext,
    role: &RoleSpec<'_>,
) -> Result<String, ProviderError> {
    let name = role.name;
    let arn = match find_role(client, name).await? {
        Some(live) => {
            check_owned(ctx, "IAM role", name, &role_tags(client, name).await?)?;
            if live.trust.as_ref() != Some(&role.trust) {
                client
                    .update_assume_role_policy()
                    .role_name(name)
                    .policy_document(role.trust.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        provider_error(
                            &format!("cannot set the trust policy of IAM role {name}"),
                            &e,
                        )
                    })?;
            }
            live.arn
        }
        None => {
            let tags = ctx
                .tags()
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Invalid,
                        format!("cannot build the tags of IAM role {name}: {e}"),
                    )
                })?;
            let out = client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(role.trust.to_string())
                .description(&role.description)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot create IAM role {name}"), &e))?;
            out.role().map(|r| r.arn().to_string()).unwrap_or_default()
        }
    };
    let policy_name = role.policy_name;
    match &role.policy {
        Some(policy) => {
            client
                .put_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| {
                    provider_error(&format!("cannot set the policy of IAM role {name}"), &e)
                })?;
        }
        None => delete_inline_policy(client, name, policy_name).await?,
    }
    Ok(arn)
}

/// Deletes inline policy `policy_name` of role `name`; already gone is fine.
async fn delete_inline_policy(
    client: &aws_sdk_iam::Client,
    name: &str,
    policy_name: &str,
) -> Result<(), ProviderError> {
    let gone = client
        .delete_role_policy()
        .role_name(name)
        .policy_name(policy_name)
        .send()
        .await;
    none_if_gone(gone.map_err(|e| {
        provider_error(
            &format!("cannot delete policy {policy_name} of IAM role {name}"),
            &e,
        )
    }))?;
    Ok(())
}

/// The role's inline policy `policy_name`, decoded; `None` when either is missing.
pub async fn policy(
    client: &aws_sdk_iam::Client,
    name: &str,
    policy_name: &str,
) -> Result<Option<Value>, ProviderError> {
    let document = none_if_gone(
        client
            .get_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot read policy {policy_name} of IAM role {name}"),
                    &e,
                )
            })
            .map(|out| out.policy_document().to_string()),
    )?;
    document.map(|d| decode_policy(&d)).transpose()
}

/// Deletes the role with its inline and attached policies; gone is fine. The caller
/// checked that the role is the component's (`check_ownership`).
pub async fn delete(client: &aws_sdk_iam::Client, name: &str) -> Result<(), ProviderError> {
    if role_arn(client, name).await?.is_none() {
        return Ok(());
    }
    let inline = client
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot list the policies of IAM role {name}"), &e))?;
    for policy_name in inline.policy_names() {
        delete_inline_policy(client, name, policy_name).await?;
    }
    let attached = client
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot list the managed policies of IAM role {name}"),
                &e,
            )
        })?;
    for policy in attached.attached_policies() {
        if let Some(arn) = policy.policy_arn() {
            let gone = client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await;
            none_if_gone(gone.map_err(|e| {
                provider_error(&format!("cannot detach {arn} from IAM role {name}"), &e)
            }))?;
        }
    }
    let gone = client.delete_role().role_name(name).send().await;
    none_if_gone(gone.map_err(|e| provider_error(&format!("cannot delete IAM role {name}"), &e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_images_get_their_repository_arn() {
        assert_eq!(
            ecr_repository_arn("123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api").as_deref(),
            Some("arn:aws:ecr:us-east-1:123456789012:repository/email-api")
        );
        assert_eq!(
            ecr_repository_arn("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app")
                .as_deref(),
            Some("arn:aws-cn:ecr:cn-north-1:123456789012:repository/team/app")
        );
        assert_eq!(ecr_repository_arn("nginx"), None);
        assert_eq!(
            ecr_repository_arn("public.ecr.aws/docker/library/busybox"),
            None
        );
        assert_eq!(ecr_repository_arn("ghcr.io/org/app"), None);
    }

    #[test]
    fn the_policy_names_exactly_what_the_task_needs() {
        let policy = execution_policy(
            "arn:aws:logs:us-east-1:1:log-group:/panka/a:*",
            &["arn:s2".into(), "arn:s1".into()],
            Some("arn:aws:ecr:us-east-1:1:repository/app"),
        );
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 4);
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:logs:us-east-1:1:log-group:/panka/a:*"
        );
        assert_eq!(statements[1]["Resource"], json!(["arn:s1", "arn:s2"]));
        assert_eq!(
            statements[3]["Resource"],
            "arn:aws:ecr:us-east-1:1:repository/app"
        );
        let bare = execution_policy("arn:l:*", &[], None);
        assert_eq!(bare["Statement"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn policies_are_url_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy(encoded).expect("decodes"),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(
            decode_policy("{\"a\": 1}").expect("plain JSON"),
            json!({"a": 1})
        );
    }
}
