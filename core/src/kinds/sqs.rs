//! SQS: a queue and, optionally, its dead-letter queue.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations, enabled};
use crate::cost::{Cost, PriceTable, UnknownPrice};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::components::LowerContext;
use crate::model::{ComponentKind, ComponentSpec, InfraSpec};
use crate::naming::{Namespace, sqs_queue};
use crate::read::{self, MapReader};
use crate::reconcile::ResourceContext;
use serde::{Deserialize, Serialize};

/// What the application needs to use a queue as producer and consumer.
pub const SQS_CLIENT_ACTIONS: [&str; 5] = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
];

impl Kind for SqsSpec {
    const KIND: ComponentKind = ComponentKind::Sqs;
    const INFO: KindInfo = KindInfo {
        name: "SQS",
        noun: "Queue",
        outputs: &["url", "arn", "dlq_url", "dlq_arn"],
        stateful: false,
        typical: TypicalDurations::uniform(10),
        // Exactly the queue: not its dead-letter queue, which only SQS writes to.
        client_access: ClientAccess::Iam {
            actions: &SQS_CLIENT_ACTIONS,
            arn_output: "arn",
        },
    };

    fn lower(
        spec: &mut MapReader,
        _infra: InfraSpec,
        _ctx: &mut LowerContext,
        diags: &mut Diagnostics,
    ) -> Self {
        lower_sqs(spec, diags)
    }

    fn narrow(spec: &ComponentSpec) -> Option<&Self> {
        match spec {
            ComponentSpec::Sqs(sqs) => Some(sqs),
            _ => None,
        }
    }

    fn physical_names(&self, ctx: &ResourceContext) -> Vec<(Namespace, String)> {
        let mut names = vec![(Namespace::SqsQueue, sqs_queue(ctx, "", self.fifo))];
        if self.dead_letter_queue.is_some() {
            names.push((Namespace::SqsQueue, sqs_queue(ctx, "-dlq", self.fifo)));
        }
        names
    }

    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice> {
        Ok(monthly_cost(self, prices))
    }

    fn key_attributes(&self) -> Vec<String> {
        vec![
            format!("Type: {}", if self.fifo { "fifo" } else { "standard" }),
            format!("DLQ: {}", enabled(self.dead_letter_queue.is_some())),
        ]
    }
}

/// The component's monthly cost at the table's on-demand prices.
fn monthly_cost(sqs: &SqsSpec, t: &PriceTable) -> Cost {
    let (kind, per_million) = if sqs.fifo {
        ("FIFO", t.sqs_fifo_million)
    } else {
        ("standard", t.sqs_standard_million)
    };
    let dlq = if sqs.dead_letter_queue.is_some() {
        " (the dead-letter queue too)"
    } else {
        ""
    };
    Cost {
        monthly_usd: 0.0,
        max_monthly_usd: 0.0,
        price_region: t.region,
        lines: Vec::new(),
        notes: vec![format!(
            "requests-based{dlq}: the first 1M requests a month are free, then \
             ${per_million:.2} per million {kind} requests (every poll counts): priced at $0"
        )],
        approximated: None,
    }
}

// ---------------------------------------------------------------- SQS

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqsSpec {
    pub fifo: bool,
    pub message_retention_seconds: u32,
    pub visibility_timeout_seconds: u32,
    pub delay_seconds: u32,
    pub max_message_size_bytes: u32,
    pub receive_wait_time_seconds: u32,
    pub content_based_deduplication: bool,
    pub dead_letter_queue: Option<DeadLetterQueue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterQueue {
    pub max_receive_count: u32,
    pub message_retention_seconds: u32,
}

pub(crate) fn lower_sqs(spec: &mut MapReader, diags: &mut Diagnostics) -> SqsSpec {
    let type_node = spec.get("type");
    let fifo = spec.one_of("type", &["standard", "fifo"], diags) == Some("fifo");
    let mut sqs = SqsSpec {
        fifo,
        message_retention_seconds: spec
            .int("messageRetentionPeriod", 60..=1_209_600, diags)
            .unwrap_or(345_600) as u32,
        visibility_timeout_seconds: spec
            .int("visibilityTimeout", 0..=43_200, diags)
            .unwrap_or(30) as u32,
        delay_seconds: spec.int("delaySeconds", 0..=900, diags).unwrap_or(0) as u32,
        max_message_size_bytes: spec
            .int("maxMessageSize", 1024..=1_048_576, diags)
            .unwrap_or(262_144) as u32,
        receive_wait_time_seconds: spec
            .int("receiveWaitTimeSeconds", 0..=20, diags)
            .unwrap_or(0) as u32,
        content_based_deduplication: false,
        dead_letter_queue: None,
    };
    if let Some(node) = spec.get("contentBasedDeduplication") {
        sqs.content_based_deduplication =
            read::boolean(node, "spec.contentBasedDeduplication", diags).unwrap_or(false);
        if sqs.content_based_deduplication && !fifo {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "`contentBasedDeduplication` applies only to `type: fifo` queues",
                )
                .with_label("standard queue")
                .with_hint(if type_node.is_some() {
                    "set `type: fifo` or remove this line"
                } else {
                    "add `type: fifo`"
                }),
            );
        }
    }
    if let Some(mut m) = spec.map("deadLetterQueue", diags) {
        let enabled = m.bool("enabled", diags).unwrap_or(true);
        let max_receive_count = m.int("maxReceiveCount", 1..=1000, diags).unwrap_or(3) as u32;
        let retention = m
            .int("messageRetentionPeriod", 60..=1_209_600, diags)
            .unwrap_or(1_209_600) as u32;
        m.finish(diags);
        if enabled {
            sqs.dead_letter_queue = Some(DeadLetterQueue {
                max_receive_count,
                message_retention_seconds: retention,
            });
        }
    }
    sqs
}
