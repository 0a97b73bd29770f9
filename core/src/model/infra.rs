//! `InfraDefaults` and `ComponentInfra`: how much CPU, memory and how many replicas a
//! MicroService runs with, and how long its logs are kept.

use crate::diag::{Diagnostic, Diagnostics};
use crate::read::MapReader;
use crate::source::Span;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InfraSpec {
    /// Fargate task CPU units (256 = a quarter vCPU).
    pub cpu: u32,
    /// Fargate task memory in MiB.
    pub memory: u32,
    /// Desired task count (the starting point when autoscaling is on).
    pub replicas: u32,
    pub autoscaling: Option<Autoscaling>,
    /// CloudWatch Logs retention of the component's log group.
    pub log_retention_days: u32,
    #[serde(skip)]
    pub replicas_span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_percent: u32,
    #[serde(skip)]
    pub min_span: Option<Span>,
}

impl Default for InfraSpec {
    fn default() -> Self {
        InfraSpec {
            cpu: 256,
            memory: 512,
            replicas: 1,
            autoscaling: None,
            log_retention_days: 30,
            replicas_span: None,
        }
    }
}

/// Fargate's valid CPU and memory combinations (MiB), from the ECS task size table.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// Retention values CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Lowers an infra `spec` (defaults, component infra and overrides already merged).
pub fn lower_infra(spec: &mut MapReader, diags: &mut Diagnostics) -> InfraSpec {
    let mut infra = InfraSpec::default();
    let mut cpu_span = None;
    let mut memory_span = None;
    let mut size_readable = true;
    if let Some(mut resources) = spec.map("resources", diags) {
        if let Some(node) = resources.get("cpu") {
            cpu_span = Some(node.span);
        }
        match resources.int("cpu", 256..=16384, diags) {
            Some(cpu) => infra.cpu = cpu as u32,
            None => size_readable &= cpu_span.is_none(),
        }
        if let Some(node) = resources.get("memory") {
            memory_span = Some(node.span);
        }
        match resources.int("memory", 512..=122880, diags) {
            Some(memory) => infra.memory = memory as u32,
            None => size_readable &= memory_span.is_none(),
        }
        resources.finish(diags);
    }
    if let Some(mut scaling) = spec.map("scaling", diags) {
        infra.replicas_span = scaling.get("replicas").map(|n| n.span);
        if let Some(replicas) = scaling.int("replicas", 0..=1000, diags) {
            infra.replicas = replicas as u32;
        }
        if let Some(mut auto) = scaling.map("autoscaling", diags) {
            let enabled = auto.bool("enabled", diags).unwrap_or(true);
            let min_span = auto.get("minReplicas").map(|n| n.span);
            let min = auto.int("minReplicas", 1..=1000, diags);
            let max_node = auto.get("maxReplicas");
            let max = auto.int("maxReplicas", 1..=1000, diags);
            let target = auto.int("targetCpuPercent", 1..=100, diags).unwrap_or(70) as u32;
            if enabled {
                let min = min.map(|m| m as u32).unwrap_or(infra.replicas.max(1));
                let max = max.map(|m| m as u32).unwrap_or(min.max(infra.replicas));
                if min > max {
                    diags.push(
                        Diagnostic::at(
                            "E025",
                            max_node
                                .map(|n| n.span)
                                .or(min_span)
                                .unwrap_or(auto.anchor()),
                            format!("`maxReplicas` ({max}) is below `minReplicas` ({min})"),
                        )
                        .with_label("below minReplicas"),
                    );
                }
                infra.autoscaling = Some(Autoscaling {
                    min_replicas: min,
                    max_replicas: max,
                    target_cpu_percent: target,
                    min_span,
                });
            }
            auto.finish(diags);
        }
        scaling.finish(diags);
    }
    if let Some(mut logs) = spec.map("logs", diags) {
        if let Some(node) = logs.get("retentionDays")
            && let Some(days) = logs.int("retentionDays", 1..=3653, diags)
        {
            if LOG_RETENTION_DAYS.contains(&(days as u32)) {
                infra.log_retention_days = days as u32;
            } else {
                diags.push(
                    Diagnostic::at(
                        "E023",
                        node.span,
                        format!("CloudWatch Logs does not accept a retention of {days} days"),
                    )
                    .with_label("unsupported retention")
                    .with_hint(format!(
                        "use one of {}",
                        LOG_RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                    )),
                );
            }
        }
        logs.finish(diags);
    }
    // A size already reported as unreadable is not checked again against the table.
    if !size_readable {
    } else if let Some(options) = fargate_memory_options(infra.cpu) {
        if !options.contains(&infra.memory) {
            let span = memory_span.or(cpu_span);
            let message = format!(
                "Fargate does not offer {} MiB of memory with {} CPU units",
                infra.memory, infra.cpu
            );
            let hint = format!(
                "with cpu {} use memory {}",
                infra.cpu,
                options
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(span) = span {
                diags.push(
                    Diagnostic::at("E040", span, message)
                        .with_label("invalid CPU/memory pair")
                        .with_hint(hint),
                );
            }
        }
    } else if let Some(span) = cpu_span {
        diags.push(
            Diagnostic::at(
                "E040",
                span,
                format!("Fargate does not offer {} CPU units", infra.cpu),
            )
            .with_label("invalid CPU")
            .with_hint("use one of 256, 512, 1024, 2048, 4096, 8192, 16384"),
        );
    }
    infra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_fargate_sizes() {
        assert!(fargate_memory_options(256).is_some_and(|m| m.contains(&512)));
        assert!(fargate_memory_options(256).is_some_and(|m| !m.contains(&4096)));
        assert!(fargate_memory_options(4096).is_some_and(|m| m.contains(&30720)));
        assert!(fargate_memory_options(300).is_none());
    }
}
