//! Route 53 records: the alias `A` record of each host (to the load balancer) and the
//! `CNAME` records that validate a certificate.
//!
//! Records carry no tags, so ownership is by what they point at: an alias to this
//! service's load balancer is the service's; any other record at a host is someone
//! else's and is never overwritten or deleted.

use crate::sdk_error::provider_error;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use panka_core::reconcile::{ErrorKind, ProviderError};

type Client = aws_sdk_route53::Client;

/// Validation records live as long as the certificate (ACM renews through them).
const VALIDATION_TTL: i64 = 300;

/// Route 53 writes names with a final dot and may prefix alias targets with `dualstack.`.
pub fn same_name(a: &str, b: &str) -> bool {
    fn bare(name: &str) -> String {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.strip_prefix("dualstack.")
            .map(str::to_string)
            .unwrap_or(name)
    }
    bare(a) == bare(b)
}

/// What a load balancer is, for alias records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasTo {
    pub dns_name: String,
    /// The load balancer's own hosted zone (`CanonicalHostedZoneId`).
    pub zone_id: String,
}

/// The records at `host` of the types a host name can hold (`A`, `AAAA`, `CNAME`).
async fn records_at(
    client: &Client,
    zone_id: &str,
    host: &str,
) -> Result<Vec<ResourceRecordSet>, ProviderError> {
    let out = client
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(host)
        .max_items(10)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the records of {host}"), &e))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .filter(|r| same_name(r.name(), host))
        .filter(|r| matches!(r.r#type(), RrType::A | RrType::Aaaa | RrType::Cname))
        .cloned()
        .collect())
}

fn alias_of(record: &ResourceRecordSet) -> Option<&str> {
    record.alias_target().map(|a| a.dns_name())
}

/// How a host's record stands against the load balancers the service may point it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRecord {
    /// No record: free to create.
    Free,
    /// An alias `A` record to this load balancer.
    Ours,
    /// Something else: a record this service did not write, described.
    Taken(String),
}

pub async fn host_record(
    client: &Client,
    zone_id: &str,
    host: &str,
    load_balancer_dns: &[&str],
) -> Result<HostRecord, ProviderError> {
    let records = records_at(client, zone_id, host).await?;
    let Some(first) = records.first() else {
        return Ok(HostRecord::Free);
    };
    let ours = records.iter().all(|r| {
        r.r#type() == &RrType::A
            && alias_of(r)
                .is_some_and(|target| load_balancer_dns.iter().any(|lb| same_name(target, lb)))
    });
    if ours {
        return Ok(HostRecord::Ours);
    }
    let what = match alias_of(first) {
        Some(target) => format!("an alias {} record to {target}", first.r#type().as_str()),
        None => format!(
            "a {} record ({})",
            first.r#type().as_str(),
            first
                .resource_records()
                .iter()
                .map(|r| r.value())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(HostRecord::Taken(what))
}

/// The `Foreign` error of a host whose name someone else's record holds.
pub fn taken(host: &str, what: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Foreign,
        format!("{host} already has {what}, which this service did not write"),
    )
    .with_hint("delete that record, or give the service another `loadBalancer.alias`; panka does not overwrite records it did not create")
}

async fn change(
    client: &Client,
    zone_id: &str,
    changes: Vec<Change>,
    doing: &str,
) -> Result<(), ProviderError> {
    if changes.is_empty() {
        return Ok(());
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .map_err(|e| ProviderError::new(ErrorKind::Other, format!("{doing}: {e}")))?;
    client
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| provider_error(doing, &e))?;
    Ok(())
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>, doing: &str) -> Result<T, ProviderError> {
    result.map_err(|e| ProviderError::new(ErrorKind::Other, format!("{doing}: {e}")))
}

fn alias_record(host: &str, to: &AliasTo) -> Result<ResourceRecordSet, ProviderError> {
    let doing = format!("cannot write the alias record of {host}");
    let target = built(
        AliasTarget::builder()
            .hosted_zone_id(&to.zone_id)
            .dns_name(&to.dns_name)
            .evaluate_target_health(true)
            .build(),
        &doing,
    )?;
    built(
        ResourceRecordSet::builder()
            .name(host)
            .r#type(RrType::A)
            .alias_target(target)
            .build(),
        &doing,
    )
}

/// Points each host at the load balancer (`UPSERT`: already right is a no-op). The caller
/// checked each host with [`host_record`] first.
pub async fn upsert_aliases(
    client: &Client,
    zone_id: &str,
    hosts: &[String],
    to: &AliasTo,
) -> Result<(), ProviderError> {
    let mut changes = Vec::new();
    for host in hosts {
        changes.push(built(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(alias_record(host, to)?)
                .build(),
            "cannot write alias records",
        )?);
    }
    change(
        client,
        zone_id,
        changes,
        &format!("cannot point {} at the load balancer", hosts.join(", ")),
    )
    .await
}

/// Deletes the alias records of `hosts` that point at the load balancer `load_balancer_dns`;
/// a host without one, or pointing elsewhere (not this service's), is left as it is.
pub async fn delete_aliases(
    client: &Client,
    zone_id: &str,
    hosts: &[String],
    load_balancer_dns: &str,
) -> Result<(), ProviderError> {
    let mut changes = Vec::new();
    for host in hosts {
        for record in records_at(client, zone_id, host).await? {
            let ours = record.r#type() == &RrType::A
                && alias_of(&record).is_some_and(|t| same_name(t, load_balancer_dns));
            if ours {
                // A delete must repeat the record exactly as it stands.
                changes.push(built(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(record)
                        .build(),
                    "cannot delete alias records",
                )?);
            }
        }
    }
    change(
        client,
        zone_id,
        changes,
        &format!("cannot delete the records of {}", hosts.join(", ")),
    )
    .await
}

/// The hosts among `hosts` whose alias record points at the load balancer.
pub async fn hosts_pointing_at(
    client: &Client,
    zone_id: &str,
    hosts: &[String],
    load_balancer_dns: &str,
) -> Result<Vec<String>, ProviderError> {
    let mut pointing = Vec::new();
    for host in hosts {
        if host_record(client, zone_id, host, &[load_balancer_dns]).await? == HostRecord::Ours {
            pointing.push(host.clone());
        }
    }
    Ok(pointing)
}

/// A `CNAME` record ACM asks for, to prove control of a name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidationRecord {
    pub name: String,
    pub value: String,
}

fn cname(record: &ValidationRecord) -> Result<ResourceRecordSet, ProviderError> {
    let doing = format!("cannot write validation record {}", record.name);
    built(
        ResourceRecordSet::builder()
            .name(&record.name)
            .r#type(RrType::Cname)
            .ttl(VALIDATION_TTL)
            .resource_records(built(
                ResourceRecord::builder().value(&record.value).build(),
                &doing,
            )?)
            .build(),
        &doing,
    )
}

/// Writes the validation records (`UPSERT`: ACM gives the same record for a name to every
/// certificate of the account, so one record serves them all).
pub async fn upsert_validation(
    client: &Client,
    zone_id: &str,
    records: &[ValidationRecord],
) -> Result<(), ProviderError> {
    let mut changes = Vec::new();
    for record in records {
        changes.push(built(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(cname(record)?)
                .build(),
            "cannot write validation records",
        )?);
    }
    change(
        client,
        zone_id,
        changes,
        "cannot write the certificate's validation records",
    )
    .await
}

/// Deletes validation records that still hold exactly these values; gone is done.
pub async fn delete_validation(
    client: &Client,
    zone_id: &str,
    records: &[ValidationRecord],
) -> Result<(), ProviderError> {
    let mut changes = Vec::new();
    for record in records {
        let live = client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&record.name)
            .start_record_type(RrType::Cname)
            .max_items(1)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot read validation record {}", record.name),
                    &e,
                )
            })?;
        for found in live.resource_record_sets() {
            let same = same_name(found.name(), &record.name)
                && found.r#type() == &RrType::Cname
                && found
                    .resource_records()
                    .iter()
                    .any(|r| same_name(r.value(), &record.value));
            if same {
                changes.push(built(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(found.clone())
                        .build(),
                    "cannot delete validation records",
                )?);
            }
        }
    }
    change(
        client,
        zone_id,
        changes,
        "cannot delete the certificate's validation records",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_the_final_dot_case_or_dualstack() {
        assert!(same_name("api.company.com.", "api.company.com"));
        assert!(same_name(
            "dualstack.x-1.elb.amazonaws.com.",
            "X-1.elb.amazonaws.com"
        ));
        assert!(!same_name("api.company.com", "www.company.com"));
    }
}
