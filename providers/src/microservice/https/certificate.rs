//! The ACM certificate panka requests for a service's hosts: DNS-validated through
//! records it writes in the environment's zone, tagged with the component's ownership
//! tags so it is found again (and listed as an orphan if a run stops before using it).

use super::records::ValidationRecord;
use crate::microservice::wait::{Wait, wait_until};
use crate::naming::owned_by;
use crate::sdk_error::{Failure, provider_error};
use crate::shared::gone::none_if_gone;
use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};
use panka_core::naming::fnv1a;
use panka_core::progress;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

type Client = aws_sdk_acm::Client;

/// The progress step of the DNS validation.
pub const VALIDATING: &str = "Validating certificate (DNS)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub arn: String,
    /// The names it covers, sorted.
    pub names: Vec<String>,
    pub status: CertificateStatus,
    /// The records ACM asks for; empty until it has computed them.
    pub validation: Vec<ValidationRecord>,
    pub failure: Option<String>,
}

impl Certificate {
    pub fn issued(&self) -> bool {
        self.status == CertificateStatus::Issued
    }
}

pub async fn describe(client: &Client, arn: &str) -> Result<Option<Certificate>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot read certificate {arn}"), &e)),
    )?;
    Ok(out.and_then(|o| {
        let detail = o.certificate()?;
        let mut names: Vec<String> = detail.subject_alternative_names().to_vec();
        names.extend(detail.domain_name().map(str::to_string));
        names.sort();
        names.dedup();
        let mut validation: Vec<ValidationRecord> = detail
            .domain_validation_options()
            .iter()
            .filter_map(|v| v.resource_record())
            .map(|r| ValidationRecord {
                name: r.name().to_string(),
                value: r.value().to_string(),
            })
            .collect();
        validation.sort();
        validation.dedup();
        Some(Certificate {
            arn: arn.to_string(),
            names,
            status: detail
                .status()
                .cloned()
                .unwrap_or(CertificateStatus::PendingValidation),
            validation,
            failure: detail.failure_reason().map(|r| r.as_str().to_string()),
        })
    }))
}

pub async fn tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Every certificate of the account that is pending validation or issued: (ARN, domain).
pub async fn list(client: &Client) -> Result<Vec<(String, String)>, ProviderError> {
    let summaries: Vec<_> = client
        .list_certificates()
        .certificate_statuses(CertificateStatus::PendingValidation)
        .certificate_statuses(CertificateStatus::Issued)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list ACM certificates", &e))?;
    Ok(summaries
        .iter()
        .filter_map(|s| {
            Some((
                s.certificate_arn()?.to_string(),
                s.domain_name().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// This component's certificate for exactly `hosts` (sorted) that is issued or still
/// validating, preferring an issued one.
pub async fn find_own(
    client: &Client,
    ctx: &ResourceContext,
    hosts: &[String],
) -> Result<Option<Certificate>, ProviderError> {
    let Some(first) = hosts.first() else {
        return Ok(None);
    };
    let mut found: Option<Certificate> = None;
    for (arn, domain) in list(client).await? {
        if &domain != first {
            continue;
        }
        let Some(cert) = describe(client, &arn).await? else {
            continue;
        };
        if cert.names != hosts || !owned_by(ctx, &tags(client, &arn).await?) {
            continue;
        }
        if cert.issued() {
            return Ok(Some(cert));
        }
        found.get_or_insert(cert);
    }
    Ok(found)
}

/// Requests a DNS-validated certificate for `hosts` (sorted), tagged as the component's.
/// The idempotency token makes a retried request (within the hour ACM keeps it) return
/// the same certificate rather than a second one.
pub async fn request(
    client: &Client,
    ctx: &ResourceContext,
    hosts: &[String],
) -> Result<String, ProviderError> {
    let Some((first, _)) = hosts.split_first() else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "a certificate needs at least one host name",
        ));
    };
    let token = format!(
        "panka{:08x}",
        fnv1a(&format!("{}|{}", ctx.base_name(), hosts.join(",")))
    );
    let mut request = client
        .request_certificate()
        .domain_name(first)
        .validation_method(ValidationMethod::Dns)
        .idempotency_token(token);
    if hosts.len() > 1 {
        request = request.set_subject_alternative_names(Some(hosts.to_vec()));
    }
    for (key, value) in ctx.tags() {
        let tag = Tag::builder().key(key).value(value).build().map_err(|e| {
            ProviderError::new(ErrorKind::Other, format!("cannot tag the certificate: {e}"))
        })?;
        request = request.tags(tag);
    }
    let out = request.send().await.map_err(|e| {
        provider_error(
            &format!("cannot request a certificate for {}", hosts.join(", ")),
            &e,
        )
    })?;
    out.certificate_arn().map(str::to_string).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            "ACM accepted the certificate request but returned no ARN",
        )
    })
}

/// The validation records of `arn`, once ACM has computed them (a few seconds after the
/// request).
pub async fn validation_records(
    client: &Client,
    arn: &str,
    wait: Wait,
) -> Result<Vec<ValidationRecord>, ProviderError> {
    let found = std::sync::Mutex::new(Vec::new());
    wait_until(
        wait,
        &format!("ACM to give the validation records of {arn}"),
        || async {
            let cert = describe(client, arn).await?.ok_or_else(|| gone(arn))?;
            let complete = !cert.validation.is_empty();
            if let Ok(mut found) = found.lock() {
                *found = cert.validation;
            }
            Ok(complete)
        },
    )
    .await?;
    Ok(found.into_inner().unwrap_or_default())
}

fn gone(arn: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        format!("certificate {arn} was deleted while panka waited for it"),
    )
}

/// Waits until the certificate is issued, showing its status as progress.
///
/// Errors: `Invalid` when validation failed or timed out on ACM's side (waiting longer
/// cannot mend it); `TimedOut` when `wait` runs out first (run again to resume: the
/// certificate is found by its tags).
pub async fn wait_issued(client: &Client, arn: &str, wait: Wait) -> Result<(), ProviderError> {
    wait_until(wait, &format!("certificate {arn} to be issued"), || async {
        let cert = describe(client, arn).await?.ok_or_else(|| gone(arn))?;
        match &cert.status {
            CertificateStatus::Issued => Ok(true),
            CertificateStatus::PendingValidation => {
                progress::waiting(
                    VALIDATING,
                    format!("{}: pending validation", cert.names.join(", ")),
                    None,
                );
                Ok(false)
            }
            other => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "certificate for {} is {}{}",
                    cert.names.join(", "),
                    other.as_str(),
                    cert.failure
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            )
            .with_hint("check that the zone is the domain's public, delegated zone and that no CAA record forbids amazon.com; the next apply requests a new certificate")),
        }
    })
    .await?;
    progress::finish(VALIDATING);
    Ok(())
}

/// Deletes the certificate; gone is done. A certificate stays "in use" for a moment after
/// its listener goes, so that is waited out.
pub async fn delete(client: &Client, arn: &str, wait: Wait) -> Result<(), ProviderError> {
    wait_until(wait, &format!("certificate {arn} to be free"), || async {
        match client
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let failure = Failure::from_sdk(&e);
                if failure.is_code("ResourceInUseException") {
                    return Ok(false);
                }
                match failure.classify() {
                    ErrorKind::NotFound => Ok(true),
                    _ => Err(provider_error(
                        &format!("cannot delete certificate {arn}"),
                        &e,
                    )),
                }
            }
        }
    })
    .await
}
