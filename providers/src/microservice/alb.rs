//! The Application Load Balancer in front of a service: the ALB, its target group (tasks
//! register by IP) and one HTTP listener forwarding to it.

use super::fields::HealthCheckField;
use super::wait::{Wait, wait_until};
use crate::sdk_error::provider_error;
use crate::shared::gone::{done_if_gone, none_if_gone};
use crate::shared::ownership::check_owned;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag,
    TargetTypeEnum,
};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

type Client = aws_sdk_elasticloadbalancingv2::Client;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alb {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    /// The load balancer's own hosted zone, which alias records name.
    pub canonical_zone_id: String,
    pub internal: bool,
    pub security_groups: Vec<String>,
    pub vpc_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub port: u16,
    pub health: HealthCheckField,
    pub load_balancer_arns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub arn: String,
    pub port: u16,
    /// An HTTPS listener: the readiness check then speaks TLS.
    pub https: bool,
    /// Its default action redirects to HTTPS (the environment has a domain).
    pub redirects: bool,
}

fn listener_of(l: &aws_sdk_elasticloadbalancingv2::types::Listener) -> Listener {
    Listener {
        arn: l.listener_arn().unwrap_or_default().to_string(),
        port: to_u16(l.port()),
        https: l.protocol() == Some(&ProtocolEnum::Https),
        redirects: l
            .default_actions()
            .iter()
            .any(|a| a.r#type() == Some(&ActionTypeEnum::Redirect)),
    }
}

/// What the service's plain HTTP listener does: forward to the target group, or (with a
/// domain) redirect to HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpAction<'a> {
    Forward(&'a str),
    RedirectToHttps,
}

impl HttpAction<'_> {
    fn action(&self) -> Action {
        match self {
            HttpAction::Forward(target_group_arn) => forward(target_group_arn),
            HttpAction::RedirectToHttps => super::https::routes::redirect_to_https(),
        }
    }

    fn is_done_by(&self, listener: &Listener) -> bool {
        match self {
            HttpAction::Forward(_) => !listener.redirects,
            HttpAction::RedirectToHttps => listener.redirects,
        }
    }
}

pub(super) fn to_u16(value: Option<i32>) -> u16 {
    value.and_then(|v| u16::try_from(v).ok()).unwrap_or(0)
}

fn to_u32(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn i32_of(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(super) fn elb_tags(ctx: &ResourceContext) -> Vec<Tag> {
    tag_list(ctx.tags())
}

pub(super) fn tag_list(tags: BTreeMap<String, String>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn alb_of(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> Alb {
    Alb {
        arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        canonical_zone_id: lb
            .canonical_hosted_zone_id()
            .unwrap_or_default()
            .to_string(),
        internal: lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
        security_groups: lb.security_groups().to_vec(),
        vpc_id: lb.vpc_id().unwrap_or_default().to_string(),
    }
}

fn target_group_of(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> TargetGroup {
    let port = to_u16(tg.port());
    TargetGroup {
        arn: tg.target_group_arn().unwrap_or_default().to_string(),
        name: tg.target_group_name().unwrap_or_default().to_string(),
        port,
        health: HealthCheckField {
            path: tg.health_check_path().unwrap_or("/").to_string(),
            // `traffic-port` (the default) is the port targets register with.
            port: tg
                .health_check_port()
                .and_then(|p| p.parse().ok())
                .unwrap_or(port),
            interval_seconds: to_u32(tg.health_check_interval_seconds()),
            timeout_seconds: to_u32(tg.health_check_timeout_seconds()),
            healthy_threshold: to_u32(tg.healthy_threshold_count()),
            unhealthy_threshold: to_u32(tg.unhealthy_threshold_count()),
        },
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
    }
}

/// `Ok(None)` for a "not found" error.
pub async fn find_load_balancer(client: &Client, name: &str) -> Result<Option<Alb>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up load balancer {name}"), &e)),
    )?;
    Ok(out.and_then(|o| o.load_balancers().first().map(alb_of)))
}

pub async fn load_balancer_by_arn(
    client: &Client,
    arn: &str,
) -> Result<Option<Alb>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up load balancer {arn}"), &e)),
    )?;
    Ok(out.and_then(|o| o.load_balancers().first().map(alb_of)))
}

pub async fn find_target_group(
    client: &Client,
    name: &str,
) -> Result<Option<TargetGroup>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up target group {name}"), &e)),
    )?;
    Ok(out.and_then(|o| o.target_groups().first().map(target_group_of)))
}

pub async fn target_group_by_arn(
    client: &Client,
    arn: &str,
) -> Result<Option<TargetGroup>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot look up target group {arn}"), &e)),
    )?;
    Ok(out.and_then(|o| o.target_groups().first().map(target_group_of)))
}

pub async fn tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// The service's plain listener on `load_balancer_arn`: the one forwarding to
/// `target_group_arn`, else the HTTP one redirecting to HTTPS.
pub async fn listener_for(
    client: &Client,
    load_balancer_arn: &str,
    target_group_arn: &str,
) -> Result<Option<Listener>, ProviderError> {
    let listeners = listeners(client, load_balancer_arn).await?;
    Ok(listeners.and_then(|listeners| {
        listeners
            .iter()
            .find(|l| {
                l.default_actions()
                    .iter()
                    .any(|a| a.target_group_arn() == Some(target_group_arn))
            })
            .or_else(|| {
                listeners.iter().find(|l| {
                    l.protocol() == Some(&ProtocolEnum::Http)
                        && l.default_actions()
                            .iter()
                            .any(|a| a.r#type() == Some(&ActionTypeEnum::Redirect))
                })
            })
            .map(listener_of)
    }))
}

/// Creates or adopts the ALB.
///
/// Errors: `Foreign` for an ALB of that name that is not this component's; `Conflict`
/// when its scheme differs (changing `internal` replaces the component).
pub async fn ensure_load_balancer(
    client: &Client,
    ctx: &ResourceContext,
    name: &str,
    subnets: &[String],
    security_group: &str,
    internal: bool,
) -> Result<Alb, ProviderError> {
    if let Some(alb) = find_load_balancer(client, name).await? {
        check_owned(ctx, "load balancer", name, &tags(client, &alb.arn).await?)?;
        if alb.internal != internal {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "load balancer {name} is {}; a scheme cannot change in place",
                    if alb.internal {
                        "internal"
                    } else {
                        "internet-facing"
                    }
                ),
            )
            .with_hint("changing `loadBalancer.internal` replaces the component"));
        }
        return Ok(alb);
    }
    create_load_balancer(
        client,
        elb_tags(ctx),
        name,
        subnets,
        security_group,
        internal,
    )
    .await
}

/// Creates an application load balancer tagged `tags`.
pub async fn create_load_balancer(
    client: &Client,
    tags: Vec<Tag>,
    name: &str,
    subnets: &[String],
    security_group: &str,
    internal: bool,
) -> Result<Alb, ProviderError> {
    let scheme = if internal {
        LoadBalancerSchemeEnum::Internal
    } else {
        LoadBalancerSchemeEnum::InternetFacing
    };
    let out = client
        .create_load_balancer()
        .name(name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(scheme)
        .set_subnets(Some(subnets.to_vec()))
        .security_groups(security_group)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot create load balancer {name}"), &e))?;
    out.load_balancers().first().map(alb_of).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            format!("ELB created {name} but did not describe it"),
        )
    })
}

/// Creates or adopts the target group and makes its health check `health`.
pub async fn ensure_target_group(
    client: &Client,
    ctx: &ResourceContext,
    name: &str,
    vpc_id: &str,
    port: u16,
    health: &HealthCheckField,
) -> Result<TargetGroup, ProviderError> {
    if let Some(tg) = find_target_group(client, name).await? {
        check_owned(ctx, "target group", name, &tags(client, &tg.arn).await?)?;
        if tg.port != port {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("target group {name} routes to port {}, not {port}; its port cannot change in place", tg.port),
            )
            .with_hint("changing the container port behind the load balancer replaces the component"));
        }
        if &tg.health == health {
            return Ok(tg);
        }
        client
            .modify_target_group()
            .target_group_arn(&tg.arn)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&health.path)
            .health_check_port(health.port.to_string())
            .health_check_interval_seconds(i32_of(health.interval_seconds))
            .health_check_timeout_seconds(i32_of(health.timeout_seconds))
            .healthy_threshold_count(i32_of(health.healthy_threshold))
            .unhealthy_threshold_count(i32_of(health.unhealthy_threshold))
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot change the health check of target group {name}"),
                    &e,
                )
            })?;
        return Ok(TargetGroup {
            health: health.clone(),
            ..tg
        });
    }
    let out = client
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(i32::from(port))
        .vpc_id(vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path(&health.path)
        .health_check_port(health.port.to_string())
        .health_check_interval_seconds(i32_of(health.interval_seconds))
        .health_check_timeout_seconds(i32_of(health.timeout_seconds))
        .healthy_threshold_count(i32_of(health.healthy_threshold))
        .unhealthy_threshold_count(i32_of(health.unhealthy_threshold))
        .set_tags(Some(elb_tags(ctx)))
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot create target group {name}"), &e))?;
    out.target_groups()
        .first()
        .map(target_group_of)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("ELB created {name} but did not describe it"),
            )
        })
}

pub(super) fn forward(target_group_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

/// The HTTP listener on `port` doing `action`, created, moved there or changed.
pub async fn ensure_listener(
    client: &Client,
    ctx: &ResourceContext,
    load_balancer_arn: &str,
    target_group_arn: &str,
    port: u16,
    action: HttpAction<'_>,
) -> Result<Listener, ProviderError> {
    ensure_listener_tagged(
        client,
        elb_tags(ctx),
        load_balancer_arn,
        target_group_arn,
        port,
        action,
    )
    .await
}

/// [`ensure_listener`], tagging a new listener with `tags`.
pub async fn ensure_listener_tagged(
    client: &Client,
    tags: Vec<Tag>,
    load_balancer_arn: &str,
    target_group_arn: &str,
    port: u16,
    action: HttpAction<'_>,
) -> Result<Listener, ProviderError> {
    if let Some(listener) = listener_for(client, load_balancer_arn, target_group_arn).await? {
        if listener.port == port && action.is_done_by(&listener) {
            return Ok(listener);
        }
        client
            .modify_listener()
            .listener_arn(&listener.arn)
            .port(i32::from(port))
            .protocol(ProtocolEnum::Http)
            .default_actions(action.action())
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot change listener {} (port {port})", listener.arn),
                    &e,
                )
            })?;
        return Ok(Listener {
            port,
            redirects: action == HttpAction::RedirectToHttps,
            ..listener
        });
    }
    let out = client
        .create_listener()
        .load_balancer_arn(load_balancer_arn)
        .protocol(ProtocolEnum::Http)
        .port(i32::from(port))
        .default_actions(action.action())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot create the listener on port {port} of {load_balancer_arn}"),
                &e,
            )
        })?;
    out.listeners().first().map(listener_of).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            "ELB created a listener but did not describe it",
        )
    })
}

/// Deletes the listeners, the target group and the ALB, and waits until the ALB is gone
/// (its security group cannot go before it). Gone is fine. The caller checked that both
/// are the component's (`check_ownership`).
pub async fn delete(
    client: &Client,
    alb_name: &str,
    target_group_name: &str,
    wait: Wait,
) -> Result<(), ProviderError> {
    let alb = find_load_balancer(client, alb_name).await?;
    if let Some(alb) = &alb {
        delete_listeners(client, &alb.arn).await?;
    }
    delete_target_group(client, target_group_name, wait).await?;
    if let Some(alb) = alb {
        done_if_gone(
            client
                .delete_load_balancer()
                .load_balancer_arn(&alb.arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    provider_error(&format!("cannot delete load balancer {alb_name}"), &e)
                }),
        )?;
        wait_until(
            wait,
            &format!("load balancer {alb_name} to be deleted"),
            || async { Ok(load_balancer_by_arn(client, &alb.arn).await?.is_none()) },
        )
        .await?;
    }
    Ok(())
}

/// The listeners of a load balancer as ELB describes them; `None` when it is gone.
pub async fn listeners(
    client: &Client,
    load_balancer_arn: &str,
) -> Result<Option<Vec<aws_sdk_elasticloadbalancingv2::types::Listener>>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot list the listeners of {load_balancer_arn}"),
                    &e,
                )
            }),
    )?;
    Ok(out.map(|o| o.listeners().to_vec()))
}

/// Deletes every listener of a load balancer (its rules go with them).
pub async fn delete_listeners(
    client: &Client,
    load_balancer_arn: &str,
) -> Result<(), ProviderError> {
    for listener in listeners(client, load_balancer_arn)
        .await?
        .unwrap_or_default()
    {
        let arn = listener.listener_arn().unwrap_or_default();
        done_if_gone(
            client
                .delete_listener()
                .listener_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot delete listener {arn}"), &e)),
        )?;
    }
    Ok(())
}

/// How many target groups the load balancer routes to.
pub async fn target_groups_of(
    client: &Client,
    load_balancer_arn: &str,
) -> Result<usize, ProviderError> {
    let out = none_if_gone(
        client
            .describe_target_groups()
            .load_balancer_arn(load_balancer_arn)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot list the target groups of {load_balancer_arn}"),
                    &e,
                )
            }),
    )?;
    Ok(out.map_or(0, |o| o.target_groups().len()))
}

/// Deletes the target group `name` once no listener uses it (it stays "in use" for a
/// moment after its rule goes). Gone is fine.
pub async fn delete_target_group(
    client: &Client,
    name: &str,
    wait: Wait,
) -> Result<(), ProviderError> {
    let Some(tg) = find_target_group(client, name).await? else {
        return Ok(());
    };
    wait_until(wait, &format!("target group {name} to be free"), || async {
        let result = client
            .delete_target_group()
            .target_group_arn(&tg.arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot delete target group {name}"), &e));
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(true),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await
}
