//! The HTTPS side of a load balancer: the listener on 443 with its certificate, and the
//! host-header rule that forwards a service's hosts to its target group.
//!
//! The listener's default action answers 404: a request for a host no rule names reaches
//! no service. Rules are what route, so one listener can carry several services' rules.

use crate::microservice::alb::{elb_tags, forward};
use crate::sdk_error::{Failure, provider_error};
use crate::shared::gone::{done_if_gone, none_if_gone};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, HostHeaderConditionConfig,
    ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, Tag,
};
use panka_core::naming::fnv1a;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};

type Client = aws_sdk_elasticloadbalancingv2::Client;

pub const HTTPS_PORT: u16 = 443;
/// TLS 1.3 and 1.2 only, forward secrecy: AWS's recommended policy for new listeners.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// Listener rule priorities run from 1 to 50 000.
const PRIORITIES: u32 = 50_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsListener {
    pub arn: String,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub arn: String,
    pub priority: Option<u32>,
    /// The host-header values, as written.
    pub hosts: Vec<String>,
}

pub fn redirect_to_https() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port(HTTPS_PORT.to_string())
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build()
}

fn not_found() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .content_type("text/plain")
                .message_body("no service answers at this host name\n")
                .build(),
        )
        .build()
}

fn certificate(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

/// The HTTPS listener on 443 of the load balancer, if any.
pub async fn https_listener(
    client: &Client,
    load_balancer_arn: &str,
) -> Result<Option<HttpsListener>, ProviderError> {
    let listeners = crate::microservice::alb::listeners(client, load_balancer_arn).await?;
    Ok(listeners.and_then(|listeners| {
        listeners
            .iter()
            .find(|l| {
                l.protocol() == Some(&ProtocolEnum::Https)
                    && l.port() == Some(i32::from(HTTPS_PORT))
            })
            .map(|l| HttpsListener {
                arn: l.listener_arn().unwrap_or_default().to_string(),
                certificate_arn: l
                    .certificates()
                    .iter()
                    .find(|c| c.is_default().unwrap_or(true))
                    .or(l.certificates().first())
                    .and_then(|c| c.certificate_arn())
                    .map(str::to_string),
                ssl_policy: l.ssl_policy().map(str::to_string),
            })
    }))
}

/// The HTTPS listener with `certificate_arn` as its certificate and the current policy,
/// created or changed.
pub async fn ensure_https_listener(
    client: &Client,
    ctx: &ResourceContext,
    load_balancer_arn: &str,
    certificate_arn: &str,
) -> Result<HttpsListener, ProviderError> {
    if let Some(listener) = https_listener(client, load_balancer_arn).await? {
        if listener.certificate_arn.as_deref() == Some(certificate_arn)
            && listener.ssl_policy.as_deref() == Some(TLS_POLICY)
        {
            return Ok(listener);
        }
        client
            .modify_listener()
            .listener_arn(&listener.arn)
            .certificates(certificate(certificate_arn))
            .ssl_policy(TLS_POLICY)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot give listener {} its certificate", listener.arn),
                    &e,
                )
            })?;
        return Ok(HttpsListener {
            certificate_arn: Some(certificate_arn.to_string()),
            ssl_policy: Some(TLS_POLICY.to_string()),
            ..listener
        });
    }
    create_https_listener(client, elb_tags(ctx), load_balancer_arn, certificate_arn).await
}

/// Creates the HTTPS listener on 443 with `certificate_arn` as its default certificate and
/// a 404 for hosts no rule names.
pub async fn create_https_listener(
    client: &Client,
    tags: Vec<Tag>,
    load_balancer_arn: &str,
    certificate_arn: &str,
) -> Result<HttpsListener, ProviderError> {
    let out = client
        .create_listener()
        .load_balancer_arn(load_balancer_arn)
        .protocol(ProtocolEnum::Https)
        .port(i32::from(HTTPS_PORT))
        .ssl_policy(TLS_POLICY)
        .certificates(certificate(certificate_arn))
        .default_actions(not_found())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot create the HTTPS listener of {load_balancer_arn}"),
                &e,
            )
        })?;
    let arn = out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                "ELB created the HTTPS listener but did not describe it",
            )
        })?;
    Ok(HttpsListener {
        arn: arn.to_string(),
        certificate_arn: Some(certificate_arn.to_string()),
        ssl_policy: Some(TLS_POLICY.to_string()),
    })
}

/// The rule of `listener_arn` forwarding to `target_group_arn`, if any.
pub async fn rule_for(
    client: &Client,
    listener_arn: &str,
    target_group_arn: &str,
) -> Result<Option<Rule>, ProviderError> {
    Ok(host_rules(client, listener_arn).await?.and_then(|rules| {
        rules
            .iter()
            .find(|r| {
                r.actions()
                    .iter()
                    .any(|a| a.target_group_arn() == Some(target_group_arn))
            })
            .map(|r| Rule {
                arn: r.rule_arn().unwrap_or_default().to_string(),
                priority: r.priority().and_then(|p| p.parse().ok()),
                hosts: r
                    .conditions()
                    .iter()
                    .filter(|c| c.field() == Some("host-header"))
                    .flat_map(|c| {
                        c.host_header_config()
                            .map(|h| h.values().to_vec())
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| c.values().to_vec())
                    })
                    .collect(),
            })
    }))
}

/// The listener's rules but its default one; `None` when the listener is gone.
async fn host_rules(
    client: &Client,
    listener_arn: &str,
) -> Result<Option<Vec<aws_sdk_elasticloadbalancingv2::types::Rule>>, ProviderError> {
    let out = none_if_gone(
        client
            .describe_rules()
            .listener_arn(listener_arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot list the rules of {listener_arn}"), &e)),
    )?;
    Ok(out.map(|o| {
        o.rules()
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .cloned()
            .collect()
    }))
}

/// Whether the listener has a rule besides its default one.
pub async fn has_rules(client: &Client, listener_arn: &str) -> Result<bool, ProviderError> {
    Ok(host_rules(client, listener_arn)
        .await?
        .is_some_and(|rules| !rules.is_empty()))
}

fn host_condition(hosts: &[String]) -> RuleCondition {
    RuleCondition::builder()
        .field("host-header")
        .host_header_config(
            HostHeaderConditionConfig::builder()
                .set_values(Some(hosts.to_vec()))
                .build(),
        )
        .build()
}

/// Where a component's rule goes first: a hash of its name, so the same component asks
/// for the same priority on every apply and a new service never moves another's rule.
/// On a collision the next free priority is taken, once; the rule keeps it after.
pub fn preferred_priority(ctx: &ResourceContext) -> u32 {
    1 + fnv1a(&ctx.base_name()) % PRIORITIES
}

/// The rule forwarding `hosts` to the target group, created or given these hosts.
/// Returns the hosts it had before (empty when it was created).
pub async fn ensure_rule(
    client: &Client,
    ctx: &ResourceContext,
    listener_arn: &str,
    target_group_arn: &str,
    hosts: &[String],
) -> Result<Vec<String>, ProviderError> {
    if let Some(rule) = rule_for(client, listener_arn, target_group_arn).await? {
        if rule.hosts == hosts {
            return Ok(rule.hosts);
        }
        client
            .modify_rule()
            .rule_arn(&rule.arn)
            .conditions(host_condition(hosts))
            .actions(forward(target_group_arn))
            .send()
            .await
            .map_err(|e| {
                provider_error(&format!("cannot change the hosts of rule {}", rule.arn), &e)
            })?;
        return Ok(rule.hosts);
    }
    let mut priority = preferred_priority(ctx);
    for _ in 0..PRIORITIES {
        let created = client
            .create_rule()
            .listener_arn(listener_arn)
            .priority(i32::try_from(priority).unwrap_or(1))
            .conditions(host_condition(hosts))
            .actions(forward(target_group_arn))
            .set_tags(Some(elb_tags(ctx)))
            .send()
            .await;
        match created {
            Ok(_) => return Ok(Vec::new()),
            Err(e) if Failure::from_sdk(&e).is_code("PriorityInUse") => {
                priority = priority % PRIORITIES + 1;
            }
            Err(e) => {
                return Err(provider_error(
                    &format!("cannot create the rule routing {}", hosts.join(", ")),
                    &e,
                ));
            }
        }
    }
    Err(ProviderError::new(
        ErrorKind::Conflict,
        format!("listener {listener_arn} has no free rule priority"),
    ))
}

pub async fn delete_rule(client: &Client, rule_arn: &str) -> Result<(), ProviderError> {
    done_if_gone(
        client
            .delete_rule()
            .rule_arn(rule_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot delete rule {rule_arn}"), &e)),
    )
}

pub async fn delete_listener(client: &Client, listener_arn: &str) -> Result<(), ProviderError> {
    done_if_gone(
        client
            .delete_listener()
            .listener_arn(listener_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot delete listener {listener_arn}"), &e)),
    )
}
