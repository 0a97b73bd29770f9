//! The error-rate alarm ECS rolls a deployment back on, and what the deployment alarms
//! say when a rollout fails.
//!
//! The alarm is metric math over the load balancer's one-minute counts: the share of
//! requests answered 5xx by the service's targets or by the load balancer itself (a 502
//! or 503 when targets fail), counted only when at least `MIN_REQUESTS` came, so two
//! errors out of three requests on a quiet development service do not roll it back.

use crate::sdk_error::provider_error;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, StateValue, Tag,
};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

type Client = aws_sdk_cloudwatch::Client;

/// Requests per minute below which the rate is not judged.
const MIN_REQUESTS: u32 = 20;
const PERIOD_SECONDS: i32 = 60;
/// Two bad minutes out of three: one spike does not roll back, a broken release does.
const EVALUATION_PERIODS: i32 = 3;
const DATAPOINTS_TO_ALARM: i32 = 2;

/// `app/<name>/<id>` of a load balancer ARN and `targetgroup/<name>/<id>` of a target
/// group ARN: the dimensions CloudWatch files their metrics under.
pub fn dimension_of(arn: &str, marker: &str) -> Option<String> {
    arn.find(marker).map(|at| {
        let tail = &arn[at..];
        tail.strip_prefix("loadbalancer/")
            .unwrap_or(tail)
            .to_string()
    })
}

fn metric(id: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/ApplicationELB")
        .metric_name(name)
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                .collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(PERIOD_SECONDS)
                .stat("Sum")
                .build(),
        )
        .return_data(false)
        .build()
}

/// Creates or updates (`PutMetricAlarm` replaces) the alarm on the target group behind
/// the load balancer, going off above `percent`. The load balancer's own 5xx count only
/// when the load balancer is the service's alone (`own_load_balancer`): on a shared one
/// it would count the other services' failures too.
pub async fn ensure(
    client: &Client,
    ctx: &ResourceContext,
    name: &str,
    percent: u32,
    (load_balancer_arn, own_load_balancer): (&str, bool),
    target_group_arn: &str,
) -> Result<(), ProviderError> {
    let (Some(lb), Some(tg)) = (
        dimension_of(load_balancer_arn, "loadbalancer/"),
        dimension_of(target_group_arn, "targetgroup/"),
    ) else {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!(
                "cannot tell the metric dimensions of {load_balancer_arn} and {target_group_arn}"
            ),
        ));
    };
    let both = [("TargetGroup", tg.as_str()), ("LoadBalancer", lb.as_str())];
    let errors = if own_load_balancer {
        "(target5xx + elb5xx)"
    } else {
        "target5xx"
    };
    let rate = MetricDataQuery::builder()
        .id("rate")
        .expression(format!(
            "IF(requests >= {MIN_REQUESTS}, 100 * {errors} / requests, 0)"
        ))
        .label("5xx answers, % of requests")
        .return_data(true)
        .build();
    let mut queries = vec![
        rate,
        metric("target5xx", "HTTPCode_Target_5XX_Count", &both),
        metric("requests", "RequestCount", &both),
    ];
    if own_load_balancer {
        queries.push(metric("elb5xx", "HTTPCode_ELB_5XX_Count", &both[1..]));
    }
    let mut request = client
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(format!(
            "panka: rolls back a deployment of {} ({}/{}) whose 5xx answers pass {percent}% of requests",
            ctx.id, ctx.stack, ctx.environment
        ))
        .set_metrics(Some(queries))
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .threshold(f64::from(percent))
        .evaluation_periods(EVALUATION_PERIODS)
        .datapoints_to_alarm(DATAPOINTS_TO_ALARM)
        .treat_missing_data("notBreaching");
    for (key, value) in ctx.tags() {
        request = request.tags(Tag::builder().key(key).value(value).build());
    }
    request
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot put alarm {name}"), &e))?;
    Ok(())
}

/// The alarm's threshold as a whole percent, `None` when there is no such alarm.
pub async fn threshold(client: &Client, name: &str) -> Result<Option<u32>, ProviderError> {
    let out = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read alarm {name}"), &e))?;
    Ok(out
        .metric_alarms()
        .first()
        .and_then(|a| a.threshold())
        .map(|t| t.round().clamp(0.0, 100.0) as u32))
}

/// Deletes the alarm; gone is done (`DeleteAlarms` ignores names it does not know).
pub async fn delete(client: &Client, name: &str) -> Result<(), ProviderError> {
    client
        .delete_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot delete alarm {name}"), &e))?;
    Ok(())
}

/// Those of `names` in the ALARM state, each with the reason CloudWatch gives.
pub async fn firing(
    client: &Client,
    names: &[String],
) -> Result<BTreeMap<String, String>, ProviderError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = client
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .state_value(StateValue::Alarm)
        .send()
        .await
        .map_err(|e| provider_error("cannot read the deployment alarms", &e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .filter_map(|a| {
            Some((
                a.alarm_name()?.to_string(),
                a.state_reason().unwrap_or_default().to_string(),
            ))
        })
        .chain(out.composite_alarms().iter().filter_map(|a| {
            Some((
                a.alarm_name()?.to_string(),
                a.state_reason().unwrap_or_default().to_string(),
            ))
        }))
        .collect())
}

/// The names of the alarms panka put for the owner's services, with their tags' reader:
/// every alarm whose name starts with `prefix`.
pub async fn list_with_prefix(
    client: &Client,
    prefix: &str,
) -> Result<Vec<(String, String)>, ProviderError> {
    let alarms: Vec<_> = client
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list CloudWatch alarms", &e))?;
    Ok(alarms
        .iter()
        .flat_map(|page| page.metric_alarms())
        .filter_map(|a| Some((a.alarm_name()?.to_string(), a.alarm_arn()?.to_string())))
        .collect())
}

pub async fn tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e))?;
    Ok(out
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::dimension_of;

    #[test]
    fn metric_dimensions_come_from_the_arns() {
        assert_eq!(
            dimension_of(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188",
                "loadbalancer/"
            )
            .as_deref(),
            Some("app/web/50dc6c495c0c9188")
        );
        assert_eq!(
            dimension_of(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067",
                "targetgroup/"
            )
            .as_deref(),
            Some("targetgroup/web/73e2d6bc24d8a067")
        );
        assert_eq!(dimension_of("not-an-arn", "targetgroup/"), None);
    }
}
