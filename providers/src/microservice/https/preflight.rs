//! The read-only checks of an environment's domain, run by `apply` before any change:
//! the zone resolves, and a certificate the team names exists, is issued and covers every
//! host. A problem found here stops the apply with nothing touched.

use super::{certificate, zone};
use panka_core::model::Domain;
use panka_core::reconcile::{ErrorKind, ProviderError};

/// What a problem is about, to point at where it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The zone: `spec.domain` (its `name` or `hostedZoneId`).
    Zone,
    /// `spec.domain.certificateArn`.
    Certificate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub subject: Subject,
    pub message: String,
    pub hint: Option<String>,
}

/// Whether a certificate name (`api.company.com` or `*.company.com`) covers `host`.
pub fn covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => name == host,
    }
}

/// Checks `domain` for the `hosts` the plan's services will answer on.
///
/// Errors: only when a check itself could not run (AWS refused or failed).
pub async fn check(
    route53: &aws_sdk_route53::Client,
    acm: &aws_sdk_acm::Client,
    domain: &Domain,
    hosts: &[String],
) -> Result<Vec<Problem>, ProviderError> {
    let mut problems = Vec::new();
    match zone::resolve(route53, domain).await {
        Ok(_) => {}
        Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Invalid) => {
            problems.push(Problem {
                subject: Subject::Zone,
                message: e.message.clone(),
                hint: e.hint.clone(),
            });
        }
        Err(e) => return Err(e),
    }
    let Some(arn) = &domain.certificate_arn else {
        return Ok(problems);
    };
    let Some(cert) = certificate::describe(acm, arn).await? else {
        problems.push(Problem {
            subject: Subject::Certificate,
            message: format!("certificate {arn} does not exist in this account and region"),
            hint: Some("a load balancer uses a certificate of its own region: check the stack's region and `aws acm list-certificates`".into()),
        });
        return Ok(problems);
    };
    if !cert.issued() {
        problems.push(Problem {
            subject: Subject::Certificate,
            message: format!("certificate {arn} is {}, not ISSUED", cert.status.as_str()),
            hint: Some("finish its validation first, or leave `certificateArn` out and panka requests and validates one".into()),
        });
    }
    let uncovered: Vec<&String> = hosts
        .iter()
        .filter(|h| !cert.names.iter().any(|n| covers(n, h)))
        .collect();
    if !uncovered.is_empty() {
        problems.push(Problem {
            subject: Subject::Certificate,
            message: format!(
                "certificate {arn} ({}) does not cover {}",
                cert.names.join(", "),
                uncovered
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("browsers would refuse these names: use a certificate that covers every service's host, or leave `certificateArn` out".into()),
        });
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wildcard_covers_one_label() {
        assert!(covers("*.company.com", "api.company.com"));
        assert!(!covers("*.company.com", "a.b.company.com"));
        assert!(!covers("*.company.com", "company.com"));
        assert!(covers("api.company.com", "api.company.com"));
        assert!(!covers("api.company.com", "www.company.com"));
    }
}
