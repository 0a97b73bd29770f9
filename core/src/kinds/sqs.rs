//! SQS: a queue and, optionally, its dead-letter queue.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations, enabled};
use crate::cost::{Cost, PriceTable, UnknownPrice};
use crate::diag::Diagnostics;
use crate::model::components::{self, LowerContext};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, SqsSpec};
use crate::naming::{Namespace, sqs_queue};
use crate::read::MapReader;
use crate::reconcile::ResourceContext;

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
        components::lower_sqs(spec, diags)
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
