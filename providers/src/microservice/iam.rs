//! The task execution role: what ECS uses to pull the image, write the logs and read the
//! secrets, and nothing more — an inline policy naming exactly this component's log
//! group, secrets and ECR repository.

use super::ownership::check_owned;
use crate::sdk_error::provider_error;
use aws_sdk_iam::types::Tag;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Lets ECS tasks assume the role.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
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

fn not_found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The role's ARN, or `None` when there is no such role.
pub async fn role_arn(
    client: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    not_found(
        client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up IAM role {name}"), &e))
            .map(|out| out.role().map(|r| r.arn().to_string()).unwrap_or_default()),
    )
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

/// Creates or adopts the role and sets its inline policy to `policy`; returns its ARN.
pub async fn ensure(
    client: &aws_sdk_iam::Client,
    ctx: &ResourceContext,
    name: &str,
    policy_name: &str,
    policy: &Value,
) -> Result<String, ProviderError> {
    let arn = match role_arn(client, name).await? {
        Some(arn) => {
            check_owned(ctx, "IAM role", name, &role_tags(client, name).await?)?;
            arn
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
                .assume_role_policy_document(trust_policy().to_string())
                .description(format!(
                    "ECS task execution role of {} ({}/{})",
                    ctx.id, ctx.stack, ctx.environment
                ))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot create IAM role {name}"), &e))?;
            out.role().map(|r| r.arn().to_string()).unwrap_or_default()
        }
    };
    client
        .put_role_policy()
        .role_name(name)
        .policy_name(policy_name)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot set the policy of IAM role {name}"), &e))?;
    Ok(arn)
}

/// The role's inline policy `policy_name`, decoded; `None` when either is missing.
pub async fn policy(
    client: &aws_sdk_iam::Client,
    name: &str,
    policy_name: &str,
) -> Result<Option<Value>, ProviderError> {
    let document = not_found(
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

/// Deletes the role with its inline and attached policies; gone is fine and a role that
/// is not this component's is left alone.
pub async fn delete(
    client: &aws_sdk_iam::Client,
    ctx: &ResourceContext,
    name: &str,
) -> Result<(), ProviderError> {
    if role_arn(client, name).await?.is_none()
        || !crate::naming::owned_by(ctx, &role_tags(client, name).await?)
    {
        return Ok(());
    }
    let inline = client
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot list the policies of IAM role {name}"), &e))?;
    for policy_name in inline.policy_names() {
        let gone = client
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await;
        not_found(gone.map_err(|e| {
            provider_error(
                &format!("cannot delete policy {policy_name} of IAM role {name}"),
                &e,
            )
        }))?;
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
            not_found(gone.map_err(|e| {
                provider_error(&format!("cannot detach {arn} from IAM role {name}"), &e)
            }))?;
        }
    }
    let gone = client.delete_role().role_name(name).send().await;
    not_found(gone.map_err(|e| provider_error(&format!("cannot delete IAM role {name}"), &e)))?;
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
