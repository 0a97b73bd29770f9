//! The environment's Route 53 hosted zone, found by id or by name.

use crate::sdk_error::provider_error;
use crate::shared::gone::none_if_gone;
use panka_core::model::Domain;
use panka_core::reconcile::{ErrorKind, ProviderError};

type Client = aws_sdk_route53::Client;

/// A public hosted zone: its bare id (`Z…`, without `/hostedzone/`) and its name without
/// the final dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub id: String,
    pub name: String,
}

fn bare_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

fn bare_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The zone `domain` names: by `hostedZoneId` when written (its name must be the
/// domain's), else the one public zone of that name.
///
/// Errors: `NotFound` when there is none; `Invalid` when the id's zone has another name,
/// is private, or several public zones share the name (then `hostedZoneId` picks one).
pub async fn resolve(client: &Client, domain: &Domain) -> Result<Zone, ProviderError> {
    if let Some(id) = &domain.hosted_zone_id {
        let id = bare_id(id);
        let out = none_if_gone(
            client
                .get_hosted_zone()
                .id(&id)
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot read hosted zone {id}"), &e)),
        )?;
        let Some(zone) = out.as_ref().and_then(|o| o.hosted_zone()) else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("hosted zone {id} does not exist"),
            )
            .with_hint(
                "check `spec.domain.hostedZoneId` against `aws route53 list-hosted-zones`",
            ));
        };
        let name = bare_name(zone.name());
        if name != domain.name {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("hosted zone {id} is `{name}`, not `{}`", domain.name),
            )
            .with_hint("`spec.domain.name` and `hostedZoneId` must name the same zone"));
        }
        if zone.config().is_some_and(|c| c.private_zone()) {
            return Err(private_zone(&domain.name, &id));
        }
        return Ok(Zone { id, name });
    }
    let out = client
        .list_hosted_zones_by_name()
        .dns_name(&domain.name)
        .max_items(20)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot look up the hosted zone of {}", domain.name),
                &e,
            )
        })?;
    let named: Vec<_> = out
        .hosted_zones()
        .iter()
        .filter(|z| bare_name(z.name()) == domain.name)
        .collect();
    let public: Vec<_> = named
        .iter()
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .collect();
    match public.as_slice() {
        [zone] => Ok(Zone {
            id: bare_id(zone.id()),
            name: domain.name.clone(),
        }),
        [] if !named.is_empty() => Err(private_zone(&domain.name, &bare_id(named[0].id()))),
        [] => Err(ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "no Route 53 hosted zone is named `{}` in this account",
                domain.name
            ),
        )
        .with_hint(
            "create the public hosted zone (and delegate the domain to it), or fix `spec.domain`",
        )),
        several => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} public hosted zones are named `{}`: {}",
                several.len(),
                domain.name,
                several
                    .iter()
                    .map(|z| bare_id(z.id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("pick one with `spec.domain.hostedZoneId`")),
    }
}

/// The public zone holding `host`: the longest suffix of it that names one. For a service
/// leaving HTTPS whose environment no longer names its domain.
pub async fn containing(client: &Client, host: &str) -> Result<Option<Zone>, ProviderError> {
    let labels: Vec<&str> = host.split('.').collect();
    for start in 0..labels.len().saturating_sub(1) {
        let name = labels[start..].join(".");
        let domain = Domain {
            name,
            hosted_zone_id: None,
            certificate_arn: None,
            at: Default::default(),
        };
        match resolve(client, &domain).await {
            Ok(zone) => return Ok(Some(zone)),
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn private_zone(name: &str, id: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!("hosted zone {id} (`{name}`) is private"),
    )
    .with_hint(
        "public services need a public hosted zone: certificates are validated through public DNS",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_compared_bare() {
        assert_eq!(bare_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_id("Z123"), "Z123");
        assert_eq!(bare_name("Company.com."), "company.com");
    }
}
