//! A service on the environment's domain: its hosts' alias records, the certificate that
//! covers them, the HTTPS listener with the rule routing them, and plain HTTP redirected.
//!
//! Order is what keeps the service up while it moves: the certificate is issued, then the
//! HTTPS route exists, then the names point at it, and only then does plain HTTP start
//! redirecting. Going back runs the other way: HTTP forwards again before the HTTPS route
//! and the records go.

pub mod certificate;
pub mod preflight;
pub mod records;
pub mod routes;
pub mod zone;

use super::MicroServiceReconciler;
use super::alb::Alb;
use super::fields::{self, HttpsField};
use super::names::ids;
use crate::naming::owned_by;
use panka_core::model::Domain;
use panka_core::progress;
use panka_core::reconcile::{KnownIds, ProviderError, ResourceContext};
use records::{AliasTo, HostRecord, ValidationRecord};
use zone::Zone;

/// What `read` finds of the HTTPS side.
pub(super) struct LiveHttps {
    pub field: HttpsField,
    pub ids: KnownIds,
    /// The first host the rule names: the service's `url`.
    pub first_host: Option<String>,
}

impl MicroServiceReconciler {
    /// The zone state recorded (where the records are, even if the environment names
    /// another domain since), else the environment's. `None` when neither is known.
    pub(super) async fn zone(
        &self,
        domain: Option<&Domain>,
        known: &KnownIds,
    ) -> Result<Option<Zone>, ProviderError> {
        if let Some(id) = known.get(ids::HOSTED_ZONE_ID) {
            return Ok(Some(Zone {
                id: id.clone(),
                name: domain.map(|d| d.name.clone()).unwrap_or_default(),
            }));
        }
        match domain {
            Some(domain) => zone::resolve(&self.route53, domain).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every host must be free or already this load balancer's: checked before anything
    /// changes, so a name someone else holds stops the apply untouched (`Foreign`).
    pub(super) async fn check_hosts_free(
        &self,
        zone: &Zone,
        hosts: &[String],
        load_balancer_dns: Option<&str>,
    ) -> Result<(), ProviderError> {
        for host in hosts {
            if let HostRecord::Taken(what) =
                records::host_record(&self.route53, &zone.id, host, load_balancer_dns).await?
            {
                return Err(records::taken(host, &what));
            }
        }
        Ok(())
    }

    /// The certificate panka requests for `hosts` (sorted): this component's issued or
    /// pending one when there is one, else a new request; validated through the zone and
    /// waited for until issued. Returns its ARN.
    async fn ensure_certificate(
        &self,
        ctx: &ResourceContext,
        zone: &Zone,
        hosts: &[String],
    ) -> Result<String, ProviderError> {
        let step = progress::step(certificate::VALIDATING);
        let arn = match certificate::find_own(&self.acm, ctx, hosts).await? {
            Some(found) if found.issued() => {
                step.done();
                return Ok(found.arn);
            }
            Some(pending) => pending.arn,
            None => certificate::request(&self.acm, ctx, hosts).await?,
        };
        let validation = certificate::validation_records(&self.acm, &arn, self.wait()).await?;
        records::upsert_validation(&self.route53, &zone.id, &validation).await?;
        certificate::wait_issued(&self.acm, &arn, self.wait()).await?;
        step.done();
        Ok(arn)
    }

    /// Deletes a certificate if it is this component's (one the environment names is the
    /// team's and stays), then its validation records, except those in `keep` (ACM gives
    /// one record per name to every certificate of the account).
    async fn delete_own_certificate(
        &self,
        ctx: &ResourceContext,
        arn: &str,
        zone: Option<&Zone>,
        keep: &[ValidationRecord],
    ) -> Result<(), ProviderError> {
        let Some(cert) = certificate::describe(&self.acm, arn).await? else {
            return Ok(());
        };
        if !owned_by(ctx, &certificate::tags(&self.acm, arn).await?) {
            return Ok(());
        }
        certificate::delete(&self.acm, arn, self.wait()).await?;
        if let Some(zone) = zone {
            let stale: Vec<ValidationRecord> = cert
                .validation
                .into_iter()
                .filter(|r| !keep.contains(r))
                .collect();
            records::delete_validation(&self.route53, &zone.id, &stale).await?;
        }
        Ok(())
    }

    /// The HTTPS side for `hosts` (as written: the first is the `url`): certificate,
    /// listener, rule, records; then the records of hosts the rule no longer names go, and
    /// a certificate of this component the listener no longer uses.
    pub(super) async fn ensure_https(
        &self,
        ctx: &ResourceContext,
        domain: &Domain,
        zone: &Zone,
        hosts: &[String],
        alb: &Alb,
        target_group_arn: &str,
    ) -> Result<(), ProviderError> {
        let mut sorted = hosts.to_vec();
        sorted.sort();
        let certificate_arn = match &domain.certificate_arn {
            Some(arn) => arn.clone(),
            None => self.ensure_certificate(ctx, zone, &sorted).await?,
        };
        let step = progress::step(format!("{} HTTPS listener and rule", progress::verb()));
        let before = routes::https_listener(&self.elbv2, &alb.arn).await?;
        let listener =
            routes::ensure_https_listener(&self.elbv2, ctx, &alb.arn, &certificate_arn).await?;
        let previous_hosts =
            routes::ensure_rule(&self.elbv2, ctx, &listener.arn, target_group_arn, hosts).await?;
        step.done();

        let step = progress::step(format!(
            "Pointing {} at the load balancer",
            hosts.join(", ")
        ));
        let to = AliasTo {
            dns_name: alb.dns_name.clone(),
            zone_id: alb.canonical_zone_id.clone(),
        };
        records::upsert_aliases(&self.route53, &zone.id, hosts, &to).await?;
        let dropped: Vec<String> = previous_hosts
            .into_iter()
            .filter(|h| !hosts.contains(h))
            .collect();
        records::delete_aliases(&self.route53, &zone.id, &dropped, &alb.dns_name).await?;
        step.done();

        if let Some(old) = before.and_then(|l| l.certificate_arn)
            && old != certificate_arn
        {
            let keep = match certificate::describe(&self.acm, &certificate_arn).await? {
                Some(current) => current.validation,
                None => Vec::new(),
            };
            self.delete_own_certificate(ctx, &old, Some(zone), &keep)
                .await?;
        }
        Ok(())
    }

    /// Takes the service off HTTPS: its rule, the records of its hosts, the HTTPS
    /// listener once no rule is left on it, and the certificate panka requested. The
    /// caller made plain HTTP forward first (or is deleting the load balancer).
    pub(super) async fn remove_https(
        &self,
        ctx: &ResourceContext,
        zone: Option<&Zone>,
        alb: &Alb,
        target_group_arn: &str,
    ) -> Result<(), ProviderError> {
        let Some(listener) = routes::https_listener(&self.elbv2, &alb.arn).await? else {
            return Ok(());
        };
        let mut zone = zone.cloned();
        if let Some(rule) = routes::rule_for(&self.elbv2, &listener.arn, target_group_arn).await? {
            if zone.is_none()
                && let Some(host) = rule.hosts.first()
            {
                zone = zone::containing(&self.route53, host).await?;
            }
            if let Some(zone) = &zone {
                records::delete_aliases(&self.route53, &zone.id, &rule.hosts, &alb.dns_name)
                    .await?;
            }
            routes::delete_rule(&self.elbv2, &rule.arn).await?;
        }
        routes::delete_listener(&self.elbv2, &listener.arn).await?;
        if let Some(arn) = &listener.certificate_arn {
            self.delete_own_certificate(ctx, arn, zone.as_ref(), &[])
                .await?;
        }
        Ok(())
    }

    /// The HTTPS side as it stands, or `None` when the load balancer has no HTTPS
    /// listener.
    pub(super) async fn observe_https(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        alb: &Alb,
        target_group_arn: &str,
        plain_http_redirects: bool,
    ) -> Result<Option<LiveHttps>, ProviderError> {
        let Some(listener) = routes::https_listener(&self.elbv2, &alb.arn).await? else {
            return Ok(None);
        };
        let mut ids = KnownIds::from([(ids::HTTPS_LISTENER_ARN.to_string(), listener.arn.clone())]);
        let rule = routes::rule_for(&self.elbv2, &listener.arn, target_group_arn).await?;
        let routed = rule.as_ref().map(|r| r.hosts.clone()).unwrap_or_default();
        if let Some(rule) = &rule {
            ids.insert(ids::LISTENER_RULE_ARN.to_string(), rule.arn.clone());
        }
        let certificate = match &listener.certificate_arn {
            None => String::new(),
            Some(arn) => {
                let ours = owned_by(ctx, &certificate::tags(&self.acm, arn).await?);
                match certificate::describe(&self.acm, arn).await? {
                    Some(cert) if ours => {
                        ids.insert(ids::CERTIFICATE_ARN.to_string(), arn.clone());
                        fields::requested_certificate(&cert.names)
                    }
                    _ => arn.clone(),
                }
            }
        };
        // A zone that cannot be found (the domain renamed) shows as no records.
        let zone = match self.zone(ctx.domain.as_ref(), known).await {
            Ok(zone) => zone,
            Err(e) if e.kind == panka_core::reconcile::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut pointing = match &zone {
            Some(zone) => {
                ids.insert(ids::HOSTED_ZONE_ID.to_string(), zone.id.clone());
                records::hosts_pointing_at(&self.route53, &zone.id, &routed, &alb.dns_name).await?
            }
            None => Vec::new(),
        };
        pointing.sort();
        let mut hosts = routed.clone();
        hosts.sort();
        Ok(Some(LiveHttps {
            field: HttpsField {
                hosts,
                certificate,
                records: pointing,
                http: if plain_http_redirects {
                    fields::HTTP_REDIRECTS
                } else {
                    fields::HTTP_FORWARDS
                }
                .to_string(),
            },
            ids,
            first_host: routed.first().cloned(),
        }))
    }
}
