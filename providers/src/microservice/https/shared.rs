//! The load balancer the web services of a stack and environment share on its domain: one
//! internet-facing ALB with one security group (80 and 443 from anywhere), plain HTTP on
//! 80 redirecting to HTTPS, and one HTTPS listener carrying every service's certificate
//! (SNI) and host rule. The first service that needs it creates it; the last one to leave
//! deletes it.
//!
//! Every change to it runs under the reconciler's `shared_lock`: the services of one apply
//! converge in parallel, and one must not delete the load balancer while another adds its
//! rule. Applies of one stack and environment are already serialised by the state lock.

use super::routes::{self, HttpsListener};
use crate::microservice::MicroServiceReconciler;
use crate::microservice::alb::{self, Alb, HttpAction};
use crate::microservice::names::Names;
use crate::microservice::wait::wait_until;
use crate::naming::environment_tags;
use crate::network::{IngressRule, NetworkInfo, Source};
use crate::sdk_error::provider_error;
use crate::shared::gone::{done_if_gone, none_if_gone};
use crate::shared::ownership::check_environment_owned;
use crate::shared::security_groups;
use aws_sdk_elasticloadbalancingv2::types::Certificate;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};

/// Plain HTTP on the shared load balancer: redirected to HTTPS.
pub const HTTP_PORT: u16 = 80;

type Client = aws_sdk_elasticloadbalancingv2::Client;

fn certificate(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

/// The certificates of a listener, the default one first.
pub async fn listener_certificates(
    client: &Client,
    listener_arn: &str,
) -> Result<Vec<String>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_listener_certificates()
            .listener_arn(listener_arn)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot list the certificates of listener {listener_arn}"),
                    &e,
                )
            }),
    )?;
    let mut certificates: Vec<(bool, String)> = out
        .iter()
        .flat_map(|o| o.certificates())
        .filter_map(|c| {
            Some((
                !c.is_default().unwrap_or(false),
                c.certificate_arn()?.to_string(),
            ))
        })
        .collect();
    certificates.sort();
    certificates.dedup();
    Ok(certificates.into_iter().map(|(_, arn)| arn).collect())
}

/// Whether `alb` is the load balancer the environment shares.
pub fn is_shared(names: &Names, alb: &Alb) -> bool {
    alb.name == names.shared_load_balancer
}

impl MicroServiceReconciler {
    /// The shared load balancer with its security group and the listener redirecting plain
    /// HTTP, each created when missing. The caller holds `shared_lock`.
    ///
    /// Errors: `Foreign` when a load balancer or group under the shared names is not this
    /// stack's and environment's.
    pub(in crate::microservice) async fn ensure_shared_load_balancer(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        net: &NetworkInfo,
    ) -> Result<(Alb, String), ProviderError> {
        let rules: Vec<IngressRule> = [HTTP_PORT, routes::HTTPS_PORT]
            .into_iter()
            .map(|port| IngressRule {
                port,
                source: Source::Cidr("0.0.0.0/0".to_string()),
            })
            .collect();
        let security_group = security_groups::ensure_environment_security_group(
            &self.ec2,
            ctx,
            &net.vpc_id,
            &names.shared_security_group,
            &format!(
                "panka: load balancer of {}/{} on its domain",
                ctx.stack, ctx.environment
            ),
            &rules,
        )
        .await?;
        let name = &names.shared_load_balancer;
        let alb = match alb::find_load_balancer(&self.elbv2, name).await? {
            Some(found) => {
                check_environment_owned(
                    ctx,
                    "load balancer",
                    name,
                    &alb::tags(&self.elbv2, &found.arn).await?,
                )?;
                found
            }
            None => {
                alb::create_load_balancer(
                    &self.elbv2,
                    alb::tag_list(environment_tags(ctx)),
                    name,
                    net.load_balancer_subnets(false),
                    &security_group,
                    false,
                )
                .await?
            }
        };
        alb::ensure_listener_tagged(
            &self.elbv2,
            alb::tag_list(environment_tags(ctx)),
            &alb.arn,
            "",
            HTTP_PORT,
            HttpAction::RedirectToHttps,
        )
        .await?;
        Ok((alb, security_group))
    }

    /// The shared HTTPS listener, serving `certificate_arn` among its certificates: created
    /// with it as its default when there is none yet, else given it for SNI.
    pub(in crate::microservice) async fn attach_certificate(
        &self,
        ctx: &ResourceContext,
        alb: &Alb,
        certificate_arn: &str,
    ) -> Result<HttpsListener, ProviderError> {
        let listener = match routes::https_listener(&self.elbv2, &alb.arn).await? {
            Some(listener) => listener,
            None => {
                return routes::create_https_listener(
                    &self.elbv2,
                    alb::tag_list(environment_tags(ctx)),
                    &alb.arn,
                    certificate_arn,
                )
                .await;
            }
        };
        let held = listener_certificates(&self.elbv2, &listener.arn).await?;
        if !held.iter().any(|arn| arn == certificate_arn) {
            self.elbv2
                .add_listener_certificates()
                .listener_arn(&listener.arn)
                .certificates(certificate(certificate_arn))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot add certificate {certificate_arn} to the shared listener"),
                        &e,
                    )
                })?;
        }
        Ok(listener)
    }

    /// Takes `certificate_arn` off the shared listener. When it is the listener's default,
    /// another of its certificates becomes the default first; a listener left with that
    /// one certificate keeps it (the listener goes with its last rule).
    pub(in crate::microservice) async fn detach_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> Result<(), ProviderError> {
        let held = listener_certificates(&self.elbv2, listener_arn).await?;
        if !held.iter().any(|arn| arn == certificate_arn) {
            return Ok(());
        }
        let others: Vec<&String> = held.iter().filter(|arn| *arn != certificate_arn).collect();
        if held.first().map(String::as_str) == Some(certificate_arn) {
            let Some(next) = others.first() else {
                return Ok(());
            };
            self.elbv2
                .modify_listener()
                .listener_arn(listener_arn)
                .certificates(certificate(next))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot change the default certificate of {listener_arn}"),
                        &e,
                    )
                })?;
            // Some implementations drop the SNI list with the default: give the others
            // back before this one goes.
            let now = listener_certificates(&self.elbv2, listener_arn).await?;
            let missing: Vec<Certificate> = others
                .iter()
                .skip(1)
                .filter(|arn| !now.contains(arn))
                .map(|arn| certificate(arn))
                .collect();
            if !missing.is_empty() {
                self.elbv2
                    .add_listener_certificates()
                    .listener_arn(listener_arn)
                    .set_certificates(Some(missing))
                    .send()
                    .await
                    .map_err(|e| {
                        provider_error(
                            &format!("cannot give listener {listener_arn} its certificates back"),
                            &e,
                        )
                    })?;
            }
        }
        done_if_gone(
            self.elbv2
                .remove_listener_certificates()
                .listener_arn(listener_arn)
                .certificates(certificate(certificate_arn))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    provider_error(
                        &format!("cannot take certificate {certificate_arn} off {listener_arn}"),
                        &e,
                    )
                }),
        )
    }

    /// Deletes the shared load balancer (its listeners, then itself, then its security
    /// group) once no service routes through it: no rule on its HTTPS listener but the
    /// default, and no target group attached. The caller holds `shared_lock`.
    pub(in crate::microservice) async fn release_shared_load_balancer(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: Option<&str>,
    ) -> Result<(), ProviderError> {
        let name = &names.shared_load_balancer;
        let Some(alb) = alb::find_load_balancer(&self.elbv2, name).await? else {
            return self.release_shared_security_group(ctx, names, vpc_id).await;
        };
        if check_environment_owned(
            ctx,
            "load balancer",
            name,
            &alb::tags(&self.elbv2, &alb.arn).await?,
        )
        .is_err()
        {
            return Ok(());
        }
        if let Some(listener) = routes::https_listener(&self.elbv2, &alb.arn).await?
            && routes::has_rules(&self.elbv2, &listener.arn).await?
        {
            return Ok(());
        }
        if alb::target_groups_of(&self.elbv2, &alb.arn).await? > 0 {
            return Ok(());
        }
        let wait = self.wait();
        alb::delete_listeners(&self.elbv2, &alb.arn).await?;
        done_if_gone(
            self.elbv2
                .delete_load_balancer()
                .load_balancer_arn(&alb.arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot delete load balancer {name}"), &e)),
        )?;
        wait_until(
            wait,
            &format!("load balancer {name} to be deleted"),
            || async {
                Ok(alb::load_balancer_by_arn(&self.elbv2, &alb.arn)
                    .await?
                    .is_none())
            },
        )
        .await?;
        self.release_shared_security_group(ctx, names, vpc_id).await
    }

    async fn release_shared_security_group(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: Option<&str>,
    ) -> Result<(), ProviderError> {
        let Some(vpc_id) = vpc_id else {
            return Ok(());
        };
        let Some(group) =
            security_groups::find_security_group(&self.ec2, vpc_id, &names.shared_security_group)
                .await?
        else {
            return Ok(());
        };
        if check_environment_owned(ctx, "security group", &group.name, &group.tags).is_err() {
            return Ok(());
        }
        security_groups::delete_found(&self.ec2, &group, self.patience)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Conflict => e.with_hint(
                    "a task's network interface still uses it; run the command again in a minute",
                ),
                _ => e,
            })
    }
}
