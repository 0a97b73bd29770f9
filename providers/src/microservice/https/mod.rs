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
pub mod shared;
pub mod zone;

use super::MicroServiceReconciler;
use super::alb::Alb;
use super::converge::OnDomain;
use super::fields::{self, HttpsField};
use super::names::{Names, ids};
use crate::naming::owned_by;
use crate::network::NetworkInfo;
use panka_core::model::Domain;
use panka_core::progress;
use panka_core::reconcile::{KnownIds, ProviderError, ResourceContext};
use records::{AliasTo, HostRecord, ValidationRecord};
use zone::Zone;

/// A service's route through the shared load balancer: the HTTPS listener and the rule
/// forwarding to the service's target group (none when it is gone).
struct SharedRoute {
    alb: Alb,
    listener_arn: String,
    rule: Option<routes::Rule>,
}

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
        load_balancer_dns: &[&str],
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

    /// The service's route through the load balancer its environment shares: its
    /// certificate (issued), then under the shared lock the load balancer, the certificate
    /// on its HTTPS listener and the rule forwarding the hosts to `target_group_arn`. A
    /// certificate of this component the hosts no longer need comes off the listener and
    /// goes. Returns the load balancer and the hosts the rule named before.
    pub(in crate::microservice) async fn ensure_shared_route(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        net: &NetworkInfo,
        on: &OnDomain<'_>,
        target_group_arn: &str,
    ) -> Result<(Alb, Vec<String>), ProviderError> {
        let mut sorted = on.hosts.clone();
        sorted.sort();
        let certificate_arn = match &on.domain.certificate_arn {
            Some(arn) => arn.clone(),
            None => self.ensure_certificate(ctx, &on.zone, &sorted).await?,
        };
        let step = progress::step(format!(
            "{} route on the shared load balancer",
            progress::verb()
        ));
        let guard = self.shared_lock.lock().await;
        let (alb, _) = self.ensure_shared_load_balancer(ctx, names, net).await?;
        let listener = self.attach_certificate(ctx, &alb, &certificate_arn).await?;
        let previous =
            routes::ensure_rule(&self.elbv2, ctx, &listener.arn, target_group_arn, &on.hosts)
                .await?;
        let stale: Vec<String> = self
            .own_certificates_on(ctx, &listener.arn)
            .await?
            .into_iter()
            .filter(|arn| arn != &certificate_arn)
            .collect();
        for arn in &stale {
            self.detach_certificate(&listener.arn, arn).await?;
        }
        drop(guard);
        step.done();
        if !stale.is_empty() {
            let keep = match certificate::describe(&self.acm, &certificate_arn).await? {
                Some(current) => current.validation,
                None => Vec::new(),
            };
            for arn in &stale {
                self.delete_own_certificate(ctx, arn, Some(&on.zone), &keep)
                    .await?;
            }
        }
        Ok((alb, previous))
    }

    /// The certificates on a listener that panka requested for this component.
    pub(in crate::microservice) async fn own_certificates_on(
        &self,
        ctx: &ResourceContext,
        listener_arn: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut own = Vec::new();
        for arn in shared::listener_certificates(&self.elbv2, listener_arn).await? {
            if owned_by(ctx, &certificate::tags(&self.acm, &arn).await?) {
                own.push(arn);
            }
        }
        Ok(own)
    }

    /// Points `hosts` at `alb` and removes the records of `previous` hosts the service no
    /// longer has that still point there.
    pub(in crate::microservice) async fn point_hosts(
        &self,
        zone: &Zone,
        hosts: &[String],
        previous: &[String],
        alb: &Alb,
    ) -> Result<(), ProviderError> {
        let step = progress::step(format!(
            "Pointing {} at the load balancer",
            hosts.join(", ")
        ));
        let to = AliasTo {
            dns_name: alb.dns_name.clone(),
            zone_id: alb.canonical_zone_id.clone(),
        };
        records::upsert_aliases(&self.route53, &zone.id, hosts, &to).await?;
        let dropped: Vec<String> = previous
            .iter()
            .filter(|h| !hosts.contains(h))
            .cloned()
            .collect();
        records::delete_aliases(&self.route53, &zone.id, &dropped, &alb.dns_name).await?;
        step.done();
        Ok(())
    }

    /// Takes the service off the shared load balancer: the records of its hosts, its
    /// rule, its certificates off the listener, then its target group (ECS no longer
    /// registers with it). Returns the certificates panka requested for it, which go once
    /// the listener no longer holds them ([`Self::release_shared`]), and the zone of its
    /// names (found from them when the environment no longer names one), where their
    /// validation records are.
    pub(in crate::microservice) async fn leave_shared(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        zone: Option<&Zone>,
    ) -> Result<(Vec<String>, Option<Zone>), ProviderError> {
        let mut certificates = Vec::new();
        let mut zone = zone.cloned();
        {
            let _guard = self.shared_lock.lock().await;
            if let Some(route) = self.shared_route(names).await? {
                zone = self.unpoint_hosts(&route, zone.as_ref()).await?;
                if let Some(rule) = &route.rule {
                    routes::delete_rule(&self.elbv2, &rule.arn).await?;
                }
                certificates = self.own_certificates_on(ctx, &route.listener_arn).await?;
                for arn in &certificates {
                    self.detach_certificate(&route.listener_arn, arn).await?;
                }
            }
        }
        super::alb::delete_target_group(&self.elbv2, &names.https_target_group, self.wait())
            .await?;
        Ok((certificates, zone))
    }

    /// The service's place on the shared load balancer, if it has one.
    async fn shared_route(&self, names: &Names) -> Result<Option<SharedRoute>, ProviderError> {
        let (alb, tg) = tokio::try_join!(
            super::alb::find_load_balancer(&self.elbv2, &names.shared_load_balancer),
            super::alb::find_target_group(&self.elbv2, &names.https_target_group),
        )?;
        let (Some(alb), Some(tg)) = (alb, tg) else {
            return Ok(None);
        };
        let Some(listener) = routes::https_listener(&self.elbv2, &alb.arn).await? else {
            return Ok(None);
        };
        let rule = routes::rule_for(&self.elbv2, &listener.arn, &tg.arn).await?;
        Ok(Some(SharedRoute {
            alb,
            listener_arn: listener.arn,
            rule,
        }))
    }

    /// Deletes the records of the hosts the route's rule names that point at the shared
    /// load balancer (the zone found from the first host when the environment no longer
    /// names it).
    /// Returns the zone the records were in.
    async fn unpoint_hosts(
        &self,
        route: &SharedRoute,
        zone: Option<&Zone>,
    ) -> Result<Option<Zone>, ProviderError> {
        let mut zone = zone.cloned();
        let Some(rule) = &route.rule else {
            return Ok(zone);
        };
        if zone.is_none()
            && let Some(host) = rule.hosts.first()
        {
            zone = zone::containing(&self.route53, host).await?;
        }
        if let Some(zone) = &zone {
            records::delete_aliases(&self.route53, &zone.id, &rule.hosts, &route.alb.dns_name)
                .await?;
        }
        Ok(zone)
    }

    /// The names a service leaving the domain had on the shared load balancer go, before
    /// ECS stops registering its tasks there: no name is left pointing at a route without
    /// targets.
    pub(in crate::microservice) async fn unpoint_shared_hosts(
        &self,
        names: &Names,
        zone: Option<&Zone>,
    ) -> Result<(), ProviderError> {
        if let Some(route) = self.shared_route(names).await? {
            self.unpoint_hosts(&route, zone).await?;
        }
        Ok(())
    }

    /// Deletes the shared load balancer when no service is left on it, then the
    /// `certificates` a leaving service held (the listener may have kept its last one).
    pub(in crate::microservice) async fn release_shared(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: Option<&str>,
        (zone, certificates): (Option<&Zone>, &[String]),
    ) -> Result<(), ProviderError> {
        {
            let _guard = self.shared_lock.lock().await;
            self.release_shared_load_balancer(ctx, names, vpc_id)
                .await?;
        }
        for arn in certificates {
            self.delete_own_certificate(ctx, arn, zone, &[]).await?;
        }
        Ok(())
    }

    /// Takes the service off HTTPS: its rule, the records of its hosts, the HTTPS
    /// listener once no rule is left on it, and the certificate panka requested. The
    /// caller made plain HTTP forward first (or is deleting the load balancer).
    ///
    /// `keep_certificate`: the certificate the service now uses on the shared load
    /// balancer, which stays.
    pub(super) async fn remove_https(
        &self,
        ctx: &ResourceContext,
        zone: Option<&Zone>,
        (alb, target_group_arn): (&Alb, &str),
        keep_certificate: Option<&str>,
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
        if let Some(arn) = &listener.certificate_arn
            && Some(arn.as_str()) != keep_certificate
        {
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
        // On a shared listener the default certificate may be another service's: the
        // service's own is the one panka requested for it, else the environment's.
        let held = shared::listener_certificates(&self.elbv2, &listener.arn).await?;
        let own = self
            .own_certificates_on(ctx, &listener.arn)
            .await?
            .into_iter()
            .next();
        let named = ctx
            .domain
            .as_ref()
            .and_then(|d| d.certificate_arn.clone())
            .filter(|arn| held.contains(arn));
        let certificate = match (own, named) {
            (Some(arn), _) => match certificate::describe(&self.acm, &arn).await? {
                Some(cert) => {
                    ids.insert(ids::CERTIFICATE_ARN.to_string(), arn.clone());
                    fields::requested_certificate(&cert.names)
                }
                None => arn,
            },
            (None, Some(arn)) => arn,
            (None, None) => listener.certificate_arn.clone().unwrap_or_default(),
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
                load_balancer: if shared::is_shared(&Names::new(ctx), alb) {
                    fields::SHARED_LOAD_BALANCER
                } else {
                    fields::OWN_LOAD_BALANCER
                }
                .to_string(),
            },
            ids,
            first_host: routed.first().cloned(),
        }))
    }
}
