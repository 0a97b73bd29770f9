//! SQS: a queue and, when enabled, its dead-letter queue with the redrive policy.
//!
//! Names are deterministic ([`naming::sqs_queue`]), so a component's queues are found by
//! name when state holds no URL. A name that is taken by a queue without this component's
//! tags is never touched: `create` and `delete` refuse it as [`ErrorKind::Foreign`]
//! (unless state recorded its URL, which vouches for it) and `read` treats it as absent.
//!
//! Ownership is checked with GetQueueUrl and ListQueueTags *before* any CreateQueue,
//! because CreateQueue on an existing name with identical attributes succeeds (on moto it
//! even replaces the tags), which would silently adopt someone else's queue.

mod tagged;

use crate::naming;
use crate::sdk_error::{Failure, provider_error};
use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::model::{DeadLetterQueue, SqsSpec};
use panka_core::progress;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KindReconciler, KnownIds, LiveStatus, Observed,
    ProviderError, Readiness, ResourceContext,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Attribute names as SQS spells them.
mod attr {
    pub const RETENTION: &str = "MessageRetentionPeriod";
    pub const VISIBILITY: &str = "VisibilityTimeout";
    pub const DELAY: &str = "DelaySeconds";
    pub const MAX_SIZE: &str = "MaximumMessageSize";
    pub const WAIT: &str = "ReceiveMessageWaitTimeSeconds";
    pub const FIFO: &str = "FifoQueue";
    pub const DEDUPLICATION: &str = "ContentBasedDeduplication";
    pub const REDRIVE: &str = "RedrivePolicy";
    pub const ARN: &str = "QueueArn";
}

/// Reconciles `SQS` components.
pub struct SqsReconciler {
    sqs: aws_sdk_sqs::Client,
}

impl SqsReconciler {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        SqsReconciler { sqs }
    }
}

/// One queue's name and the attributes it is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedQueue {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
}

/// What a component's spec becomes in SQS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedQueues {
    /// The main queue; its `RedrivePolicy` is present only when the DLQ's ARN was given.
    pub queue: RenderedQueue,
    pub dlq: Option<RenderedQueue>,
}

/// The queues of `spec`. `dlq_arn` is the dead-letter queue's ARN once it exists: it holds
/// the account id, which only AWS knows, so the main queue's `RedrivePolicy` needs it.
pub fn render(ctx: &ResourceContext, spec: &SqsSpec, dlq_arn: Option<&str>) -> RenderedQueues {
    let mut attributes = queue_attributes(spec);
    if let (Some(dlq), Some(arn)) = (&spec.dead_letter_queue, dlq_arn) {
        attributes.insert(
            attr::REDRIVE.to_string(),
            redrive_policy(arn, dlq.max_receive_count),
        );
    }
    RenderedQueues {
        queue: RenderedQueue {
            name: naming::sqs_queue(ctx, "", spec.fifo),
            attributes,
        },
        dlq: spec.dead_letter_queue.as_ref().map(|dlq| RenderedQueue {
            name: naming::sqs_queue(ctx, "-dlq", spec.fifo),
            attributes: dlq_attributes(spec, dlq),
        }),
    }
}

fn pairs(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

fn queue_attributes(spec: &SqsSpec) -> BTreeMap<String, String> {
    let mut attributes = pairs(&[
        (attr::RETENTION, spec.message_retention_seconds.to_string()),
        (
            attr::VISIBILITY,
            spec.visibility_timeout_seconds.to_string(),
        ),
        (attr::DELAY, spec.delay_seconds.to_string()),
        (attr::MAX_SIZE, spec.max_message_size_bytes.to_string()),
        (attr::WAIT, spec.receive_wait_time_seconds.to_string()),
    ]);
    // Standard queues reject ContentBasedDeduplication, and leaving FifoQueue out of them
    // too creates the same standard queue.
    if spec.fifo {
        attributes.insert(attr::FIFO.to_string(), "true".to_string());
        attributes.insert(
            attr::DEDUPLICATION.to_string(),
            spec.content_based_deduplication.to_string(),
        );
    }
    attributes
}

fn dlq_attributes(spec: &SqsSpec, dlq: &DeadLetterQueue) -> BTreeMap<String, String> {
    let mut attributes = pairs(&[
        (attr::RETENTION, dlq.message_retention_seconds.to_string()),
        // Every message the queue accepts must fit in its dead-letter queue.
        (attr::MAX_SIZE, spec.max_message_size_bytes.to_string()),
    ]);
    // SQS requires a FIFO queue's dead-letter queue to be FIFO as well.
    if spec.fifo {
        attributes.insert(attr::FIFO.to_string(), "true".to_string());
    }
    attributes
}

/// The `RedrivePolicy` attribute: `{"deadLetterTargetArn":…,"maxReceiveCount":N}`.
pub fn redrive_policy(dlq_arn: &str, max_receive_count: u32) -> String {
    json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string()
}

/// A parsed `RedrivePolicy`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Redrive {
    dlq_arn: String,
    max_receive_count: Option<u64>,
}

/// `None` for no policy (absent or empty). AWS has answered `maxReceiveCount` both as a
/// number and as a string, so both are read.
fn parse_redrive(text: &str) -> Result<Option<Redrive>, ProviderError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("cannot read the RedrivePolicy {text}: {e}"),
        )
    })?;
    let dlq_arn = value
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("the RedrivePolicy {text} names no deadLetterTargetArn"),
            )
        })?;
    let max_receive_count = value.get("maxReceiveCount").and_then(|count| match count {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(Some(Redrive {
        dlq_arn: dlq_arn.to_string(),
        max_receive_count,
    }))
}

/// The managed fields of `spec`, in the shape [`observed_fields`] reads back.
fn desired_fields(spec: &SqsSpec) -> Value {
    json!({
        "fifo": spec.fifo,
        "message_retention_seconds": spec.message_retention_seconds,
        "visibility_timeout_seconds": spec.visibility_timeout_seconds,
        "delay_seconds": spec.delay_seconds,
        "max_message_size_bytes": spec.max_message_size_bytes,
        "receive_wait_time_seconds": spec.receive_wait_time_seconds,
        "content_based_deduplication": spec.content_based_deduplication,
        "dead_letter_queue": spec.dead_letter_queue.as_ref().map(|dlq| json!({
            "max_receive_count": dlq.max_receive_count,
            "message_retention_seconds": dlq.message_retention_seconds,
        })),
    })
}

/// A numeric attribute as a JSON number; missing or unreadable shows as `null`, a diff.
fn number(attributes: &BTreeMap<String, String>, name: &str) -> Value {
    attributes
        .get(name)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Value::Null, Value::from)
}

/// SQS leaves boolean attributes out when they do not apply (a standard queue has no
/// `FifoQueue`), which means false.
fn flag(attributes: &BTreeMap<String, String>, name: &str) -> bool {
    attributes
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The managed fields of a live queue. `dlq_attributes` is `None` when the redrive policy
/// points at a queue that no longer exists.
fn observed_fields(
    attributes: &BTreeMap<String, String>,
    redrive: Option<&Redrive>,
    dlq_attributes: Option<&BTreeMap<String, String>>,
) -> Value {
    let dead_letter_queue = redrive.map(|r| {
        json!({
            "max_receive_count": r.max_receive_count,
            "message_retention_seconds": dlq_attributes.map_or(Value::Null, |a| number(a, attr::RETENTION)),
        })
    });
    json!({
        "fifo": flag(attributes, attr::FIFO),
        "message_retention_seconds": number(attributes, attr::RETENTION),
        "visibility_timeout_seconds": number(attributes, attr::VISIBILITY),
        "delay_seconds": number(attributes, attr::DELAY),
        "max_message_size_bytes": number(attributes, attr::MAX_SIZE),
        "receive_wait_time_seconds": number(attributes, attr::WAIT),
        "content_based_deduplication": flag(attributes, attr::DEDUPLICATION),
        "dead_letter_queue": dead_letter_queue,
    })
}

/// The queue name and owner account of an SQS ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, _, _, account, name] if !name.is_empty() => Some((name, account)),
        _ => None,
    }
}

/// CreateQueue and SetQueueAttributes take the attributes keyed by the SDK's enum.
fn sdk_attributes(attributes: &BTreeMap<String, String>) -> HashMap<QueueAttributeName, String> {
    attributes
        .iter()
        .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
        .collect()
}

/// SQS rejects `FifoQueue` in SetQueueAttributes: a queue's type is fixed at creation.
fn settable(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut settable = attributes.clone();
    settable.remove(attr::FIFO);
    settable
}

/// [`provider_error`], plus the hint for SQS's 60-second ban on reusing a deleted name.
fn sqs_error<E>(doing: &str, err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = Failure::from_sdk(err);
    let recently_deleted = failure.is_code("AWS.SimpleQueueService.QueueDeletedRecently")
        || failure.is_code("QueueDeletedRecently");
    let error = provider_error(doing, err);
    if recently_deleted {
        error.with_hint(
            "SQS does not allow a queue name to be reused within 60 seconds of its deletion: \
             apply again in a minute",
        )
    } else {
        error
    }
}

fn to_btree(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// What holds a queue name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Found {
    Missing,
    Owned(String),
    Foreign { url: String, reason: String },
}

impl Found {
    fn owned_url(&self) -> Option<&str> {
        match self {
            Found::Owned(url) => Some(url),
            Found::Missing | Found::Foreign { .. } => None,
        }
    }

    fn refuse_foreign(&self) -> Result<(), ProviderError> {
        match self {
            Found::Foreign { reason, .. } => Err(foreign(reason)),
            Found::Missing | Found::Owned(_) => Ok(()),
        }
    }
}

fn foreign(reason: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Foreign, reason).with_hint(
        "rename the component, or delete or rename the existing queue if it is no longer used",
    )
}

/// A live main queue: its URL and every attribute.
struct LiveQueue {
    url: String,
    attributes: BTreeMap<String, String>,
}

impl SqsReconciler {
    /// GetQueueUrl; `None` when no queue has that name (in `owner`'s account, if given).
    async fn queue_url(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        match self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .set_queue_owner_aws_account_id(owner.map(str::to_string))
            .send()
            .await
        {
            Ok(out) => Ok(out.queue_url().map(str::to_string)),
            Err(e) => not_found_is_none(sqs_error(&format!("cannot look up SQS queue {name}"), &e)),
        }
    }

    /// Every attribute of the queue at `url`; `None` when it does not exist.
    async fn attributes(
        &self,
        url: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        match self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.attributes()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            Err(e) => not_found_is_none(sqs_error(
                &format!("cannot read the attributes of SQS queue {url}"),
                &e,
            )),
        }
    }

    /// The queue's tags; `None` when it does not exist.
    async fn tags(&self, url: &str) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        match self.sqs.list_queue_tags().queue_url(url).send().await {
            Ok(out) => Ok(Some(to_btree(out.tags()))),
            Err(e) => not_found_is_none(sqs_error(
                &format!("cannot list the tags of SQS queue {url}"),
                &e,
            )),
        }
    }

    /// Who holds the name `name`.
    async fn find(&self, ctx: &ResourceContext, name: &str) -> Result<Found, ProviderError> {
        let Some(url) = self.queue_url(name, None).await? else {
            return Ok(Found::Missing);
        };
        // A queue deleted between the two calls is simply gone.
        let Some(tags) = self.tags(&url).await? else {
            return Ok(Found::Missing);
        };
        if naming::owned_by(ctx, &tags) {
            Ok(Found::Owned(url))
        } else {
            Ok(Found::Foreign {
                reason: naming::foreign_reason(ctx, "SQS queue", name, &tags),
                url,
            })
        }
    }

    /// The component's main queue: by the URL recorded in state first, else by name (the
    /// spec's `fifo` is unknown here, so both spellings are tried).
    async fn locate(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<LiveQueue>, ProviderError> {
        if let Some(url) = known.get("queue_url")
            && let Some(attributes) = self.attributes(url).await?
        {
            return Ok(Some(LiveQueue {
                url: url.clone(),
                attributes,
            }));
        }
        for fifo in [false, true] {
            let name = naming::sqs_queue(ctx, "", fifo);
            if let Found::Owned(url) = self.find(ctx, &name).await?
                && let Some(attributes) = self.attributes(&url).await?
            {
                return Ok(Some(LiveQueue { url, attributes }));
            }
        }
        Ok(None)
    }

    /// CreateQueue with the component's tags, or, when the name is taken by one of this
    /// component's queues, SetQueueAttributes on it. `existing` is what [`Self::find`] saw.
    async fn ensure(
        &self,
        ctx: &ResourceContext,
        queue: &RenderedQueue,
        existing: &Found,
        removing_redrive: bool,
    ) -> Result<String, ProviderError> {
        if let Some(url) = existing.owned_url() {
            self.converge(url, queue, removing_redrive).await?;
            return Ok(url.to_string());
        }
        let created = self
            .sqs
            .create_queue()
            .queue_name(&queue.name)
            .set_attributes(Some(sdk_attributes(&queue.attributes)))
            .set_tags(Some(naming::tags(ctx).into_iter().collect()))
            .send()
            .await;
        match created {
            Ok(out) => out.queue_url().map(str::to_string).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Other,
                    format!("SQS created queue {} but returned no URL", queue.name),
                )
            }),
            Err(e) => {
                let error = sqs_error(&format!("cannot create SQS queue {}", queue.name), &e);
                // The code is `QueueAlreadyExists` from the query-compatibility header,
                // `QueueNameExists` (the JSON shape) without it.
                if error.kind != ErrorKind::AlreadyExists
                    && !Failure::from_sdk(&e).is_code("QueueNameExists")
                {
                    return Err(error);
                }
                // Created since `find` looked, with other attributes: adopt it if it is ours.
                match self.find(ctx, &queue.name).await? {
                    Found::Owned(url) => {
                        self.converge(&url, queue, removing_redrive).await?;
                        Ok(url)
                    }
                    Found::Foreign { reason, .. } => Err(foreign(&reason)),
                    Found::Missing => Err(error),
                }
            }
        }
    }

    /// SetQueueAttributes of every settable attribute; an empty `RedrivePolicy` removes the
    /// policy when `removing_redrive`.
    async fn converge(
        &self,
        url: &str,
        queue: &RenderedQueue,
        removing_redrive: bool,
    ) -> Result<(), ProviderError> {
        let mut attributes = settable(&queue.attributes);
        if removing_redrive {
            attributes.insert(attr::REDRIVE.to_string(), String::new());
        }
        self.sqs
            .set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(sdk_attributes(&attributes)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                sqs_error(
                    &format!("cannot set the attributes of SQS queue {}", queue.name),
                    &e,
                )
            })
    }

    async fn arn(&self, url: &str) -> Result<String, ProviderError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sqs_error(&format!("cannot read the ARN of SQS queue {url}"), &e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(ErrorKind::Other, format!("SQS queue {url} has no QueueArn"))
            })
    }

    /// DeleteQueue; already gone is success.
    async fn delete_url(&self, url: &str) -> Result<(), ProviderError> {
        match self.sqs.delete_queue().queue_url(url).send().await {
            Ok(_) => Ok(()),
            Err(e) => tolerate_not_found(sqs_error(&format!("cannot delete SQS queue {url}"), &e)),
        }
    }

    /// Create and update alike: make the queues of `spec` exist with its attributes.
    async fn apply(
        &self,
        ctx: &ResourceContext,
        spec: &SqsSpec,
    ) -> Result<Observed, ProviderError> {
        // Without the DLQ's ARN yet: the DLQ must exist before the policy can name it.
        let unlinked = render(ctx, spec, None);
        // Both names are checked before anything changes, so a foreign queue under either
        // name leaves everything as it was.
        let queue = self.find(ctx, &unlinked.queue.name).await?;
        let dlq = self
            .find(ctx, &naming::sqs_queue(ctx, "-dlq", spec.fifo))
            .await?;
        queue.refuse_foreign()?;
        let dlq_arn = match &unlinked.dlq {
            Some(rendered_dlq) => {
                dlq.refuse_foreign()?;
                let step = progress::step(format!("{} DLQ", step_verb(&dlq)));
                let url = self.ensure(ctx, rendered_dlq, &dlq, false).await?;
                let arn = self.arn(&url).await?;
                step.done();
                Some(arn)
            }
            None => None,
        };
        let rendered = render(ctx, spec, dlq_arn.as_deref());
        let removing_redrive = rendered.dlq.is_none();
        let step = progress::step(format!("{} queue", step_verb(&queue)));
        let url = self
            .ensure(ctx, &rendered.queue, &queue, removing_redrive)
            .await?;
        step.done();
        // The redrive policy is gone by now, so the DLQ can go without stranding messages'
        // route; a foreign queue under the DLQ's name is left alone.
        if let (None, Some(dlq_url)) = (&rendered.dlq, dlq.owned_url()) {
            self.delete_url(dlq_url).await?;
        }
        let known = KnownIds::from([("queue_url".to_string(), url)]);
        self.read(ctx, &known).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Transient,
                format!(
                    "SQS queue {} was written but cannot be read back yet",
                    rendered.queue.name
                ),
            )
            .with_hint("SQS is eventually consistent right after a create: apply again")
        })
    }

    /// URLs of the component's queues with `suffix`: the one state recorded under `role`,
    /// and those found by name (both spellings) with this component's tags. A foreign
    /// queue under the component's name is refused; when state recorded the main queue,
    /// its spelling (standard or `.fifo`) is the component's name, and a queue under the
    /// other spelling is someone else's business.
    async fn owned_urls(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        role: &str,
        suffix: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let recorded = known.get(role);
        let recorded_fifo = known.get("queue_url").map(|url| url.ends_with(".fifo"));
        let mut urls: Vec<String> = recorded.cloned().into_iter().collect();
        for fifo in [false, true] {
            match self
                .find(ctx, &naming::sqs_queue(ctx, suffix, fifo))
                .await?
            {
                Found::Owned(url) if !urls.contains(&url) => urls.push(url),
                // State vouches for the queue it recorded, whatever its tags say now.
                Found::Foreign { url, .. } if recorded == Some(&url) => {}
                Found::Foreign { .. } if recorded_fifo.is_some_and(|ours| ours != fifo) => {}
                found @ Found::Foreign { .. } => found.refuse_foreign()?,
                Found::Owned(_) | Found::Missing => {}
            }
        }
        Ok(urls)
    }

    /// GetQueueAttributes answers: the queue is visible.
    async fn probe(&self, url: &str) -> Result<bool, ProviderError> {
        match self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => tolerate_not_found(sqs_error(&format!("cannot read SQS queue {url}"), &e))
                .map(|()| false),
        }
    }
}

/// `Ok(())` for a not-found error, the error otherwise.
fn tolerate_not_found(error: ProviderError) -> Result<(), ProviderError> {
    not_found_is_none::<()>(error).map(|_| ())
}

/// `Ok(None)` for a not-found error, the error otherwise.
fn not_found_is_none<T>(error: ProviderError) -> Result<Option<T>, ProviderError> {
    if error.kind == ErrorKind::NotFound {
        Ok(None)
    } else {
        Err(error)
    }
}

#[async_trait]
impl KindReconciler for SqsReconciler {
    type Spec = SqsSpec;

    fn normalise(&self, _ctx: &ResourceContext, spec: &SqsSpec, _inputs: &Inputs) -> Value {
        desired_fields(spec)
    }

    fn field_change(&self, path: &str) -> FieldChange {
        // A queue's type is fixed at creation, and a FIFO queue's name ends in `.fifo`.
        if path == "fifo" {
            FieldChange::Replace
        } else {
            FieldChange::InPlace
        }
    }

    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        let Some(queue) = self.locate(ctx, known).await? else {
            return Ok(None);
        };
        let redrive = match queue.attributes.get(attr::REDRIVE) {
            Some(text) => parse_redrive(text)?,
            None => None,
        };
        let mut dlq = None;
        if let Some(r) = &redrive {
            let (name, owner) = arn_parts(&r.dlq_arn).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Other,
                    format!(
                        "the RedrivePolicy of SQS queue {} names {}, not an SQS queue ARN",
                        queue.url, r.dlq_arn
                    ),
                )
            })?;
            if let Some(url) = self.queue_url(name, Some(owner)).await?
                && let Some(attributes) = self.attributes(&url).await?
            {
                dlq = Some((url, attributes));
            }
        }
        let fields = observed_fields(
            &queue.attributes,
            redrive.as_ref(),
            dlq.as_ref().map(|(_, a)| a),
        );
        let arn = queue.attributes.get(attr::ARN).cloned().unwrap_or_default();
        let mut physical_ids = BTreeMap::from([
            ("queue_url".to_string(), queue.url.clone()),
            ("queue_arn".to_string(), arn.clone()),
        ]);
        let mut outputs =
            BTreeMap::from([("url".to_string(), queue.url), ("arn".to_string(), arn)]);
        if let Some(r) = &redrive {
            physical_ids.insert("dlq_arn".to_string(), r.dlq_arn.clone());
            outputs.insert("dlq_arn".to_string(), r.dlq_arn.clone());
        }
        if let Some((url, _)) = dlq {
            physical_ids.insert("dlq_url".to_string(), url.clone());
            outputs.insert("dlq_url".to_string(), url);
        }
        Ok(Some(Observed {
            physical_ids,
            fields,
            outputs,
        }))
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &SqsSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.apply(ctx, spec).await
    }

    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &SqsSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.apply(ctx, spec).await
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        _options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        // Every name is looked up before anything goes, so a foreign queue under one of
        // them refuses the delete with nothing changed (the one ownership policy).
        let queues = self.owned_urls(ctx, known, "queue_url", "").await?;
        let dead_letter_queues = self.owned_urls(ctx, known, "dlq_url", "-dlq").await?;
        // The main queue first: deleting the DLQ first would leave a redrive policy
        // pointing at nothing while the queue still takes messages.
        for url in queues.iter().chain(&dead_letter_queues) {
            self.delete_url(url).await?;
        }
        Ok(())
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        match known.get("queue_url") {
            Some(url) if !self.probe(url).await? => return Ok(waiting(url)),
            Some(_) => {}
            None if self.locate(ctx, known).await?.is_none() => {
                return Ok(waiting(&format!("of {}", ctx.id)));
            }
            None => {}
        }
        if let Some(url) = known.get("dlq_url")
            && !self.probe(url).await?
        {
            return Ok(waiting(url));
        }
        Ok(Readiness::Ready)
    }

    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.live(ctx, known).await
    }

    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        self.tagged_queues(owner).await
    }
}

/// How the progress step for a queue reads: a queue found is brought up to date.
fn step_verb(found: &Found) -> &'static str {
    if found.owned_url().is_some() {
        "Updating"
    } else {
        "Creating"
    }
}

fn waiting(queue: &str) -> Readiness {
    Readiness::Waiting {
        detail: format!("SQS queue {queue} is not visible yet"),
        progress: None,
    }
}

/// What `status` shows of a queue: messages waiting, in flight and dead-lettered.
impl SqsReconciler {
    pub(crate) async fn live(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        let url = match known.get("queue_url") {
            Some(url) => Some(url.clone()),
            None => self.queue_url_by_name(ctx).await?,
        };
        let Some(url) = url else {
            return Ok(LiveStatus::missing(
                "SQS queue",
                &naming::sqs_queue(ctx, "", false),
            ));
        };
        let Some((waiting, in_flight)) = self.message_counts(&url).await? else {
            return Ok(LiveStatus::missing("SQS queue", &url));
        };
        let dead = match known.get("dlq_url") {
            Some(dlq) => self.message_counts(dlq).await?.map(|(w, f)| w + f),
            None => None,
        };
        Ok(crate::live::sqs_status(waiting, in_flight, dead))
    }

    /// The queue's URL by its deterministic name, standard or FIFO; `None` when neither
    /// exists.
    async fn queue_url_by_name(
        &self,
        ctx: &ResourceContext,
    ) -> Result<Option<String>, ProviderError> {
        for fifo in [false, true] {
            let name = naming::sqs_queue(ctx, "", fifo);
            match self.sqs.get_queue_url().queue_name(&name).send().await {
                Ok(out) => return Ok(out.queue_url().map(str::to_string)),
                Err(e) => {
                    let err = provider_error(&format!("cannot look up SQS queue {name}"), &e);
                    if err.kind != ErrorKind::NotFound {
                        return Err(err);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Messages waiting and in flight; `None` when the queue does not exist.
    async fn message_counts(&self, url: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        let out = match self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(
                    &format!("cannot read the attributes of SQS queue {url}"),
                    &e,
                );
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let count = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Some((
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::config::http::HttpResponse;
    use aws_sdk_sqs::config::retry::RetryConfig;
    use aws_sdk_sqs::operation::create_queue::CreateQueueOutput;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::list_queue_tags::ListQueueTagsOutput;
    use aws_sdk_sqs::operation::set_queue_attributes::SetQueueAttributesOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::model::ComponentId;
    use std::time::Duration;

    const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:111122223333:shop-development-orders-jobs-dlq";
    const URL: &str =
        "https://sqs.us-east-1.amazonaws.com/111122223333/shop-development-orders-jobs";

    /// An SQS error as it comes over the wire (JSON protocol): the shape in `__type`, and
    /// the query-compatible code in `x-amzn-query-error`, which SQS and moto both send.
    fn error_response(shape: &str, query_code: Option<&str>) -> HttpResponse {
        let body = format!(r#"{{"__type":"com.amazonaws.sqs#{shape}","message":"{shape}"}}"#);
        let mut response = HttpResponse::new(400.try_into().expect("a valid status"), body.into());
        if let Some(code) = query_code {
            response
                .headers_mut()
                .insert("x-amzn-query-error", format!("{code};Sender"));
        }
        response
    }

    fn not_found() -> HttpResponse {
        error_response(
            "QueueDoesNotExist",
            Some("AWS.SimpleQueueService.NonExistentQueue"),
        )
    }

    fn ctx() -> ResourceContext {
        ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id: ComponentId::new("orders", "jobs"),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        }
    }

    fn spec(fifo: bool, dlq: bool) -> SqsSpec {
        SqsSpec {
            fifo,
            message_retention_seconds: 345_600,
            visibility_timeout_seconds: 300,
            delay_seconds: 5,
            max_message_size_bytes: 262_144,
            receive_wait_time_seconds: 20,
            content_based_deduplication: fifo,
            dead_letter_queue: dlq.then_some(DeadLetterQueue {
                max_receive_count: 3,
                message_retention_seconds: 1_209_600,
            }),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `validate` finds components that would share a queue name from the core's list.
    #[test]
    fn every_queue_name_is_one_validate_checks_for_collisions() {
        for (fifo, dlq) in [(false, true), (true, true), (false, false)] {
            let spec = spec(fifo, dlq);
            let rendered = render(&ctx(), &spec, None);
            let mut built = vec![rendered.queue.name];
            built.extend(rendered.dlq.map(|q| q.name));
            let checked: Vec<String> = panka_core::naming::physical_names(
                &ctx(),
                &panka_core::model::ComponentSpec::Sqs(spec),
            )
            .into_iter()
            .map(|(_, name)| name)
            .collect();
            assert_eq!(built, checked);
        }
    }

    #[test]
    fn renders_a_standard_queue_with_its_dead_letter_queue() {
        let rendered = render(&ctx(), &spec(false, true), Some(DLQ_ARN));
        let expected = RenderedQueues {
            queue: RenderedQueue {
                name: "shop-development-orders-jobs".into(),
                attributes: map(&[
                    ("DelaySeconds", "5"),
                    ("MaximumMessageSize", "262144"),
                    ("MessageRetentionPeriod", "345600"),
                    ("ReceiveMessageWaitTimeSeconds", "20"),
                    (
                        "RedrivePolicy",
                        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:shop-development-orders-jobs-dlq","maxReceiveCount":3}"#,
                    ),
                    ("VisibilityTimeout", "300"),
                ]),
            },
            dlq: Some(RenderedQueue {
                name: "shop-development-orders-jobs-dlq".into(),
                attributes: map(&[
                    ("MaximumMessageSize", "262144"),
                    ("MessageRetentionPeriod", "1209600"),
                ]),
            }),
        };
        assert_eq!(rendered, expected);
    }

    #[test]
    fn renders_a_fifo_queue_with_a_fifo_dead_letter_queue() {
        let rendered = render(&ctx(), &spec(true, true), None);
        let expected = RenderedQueues {
            queue: RenderedQueue {
                name: "shop-development-orders-jobs.fifo".into(),
                attributes: map(&[
                    ("ContentBasedDeduplication", "true"),
                    ("DelaySeconds", "5"),
                    ("FifoQueue", "true"),
                    ("MaximumMessageSize", "262144"),
                    ("MessageRetentionPeriod", "345600"),
                    ("ReceiveMessageWaitTimeSeconds", "20"),
                    ("VisibilityTimeout", "300"),
                ]),
            },
            dlq: Some(RenderedQueue {
                name: "shop-development-orders-jobs-dlq.fifo".into(),
                attributes: map(&[
                    ("FifoQueue", "true"),
                    ("MaximumMessageSize", "262144"),
                    ("MessageRetentionPeriod", "1209600"),
                ]),
            }),
        };
        assert_eq!(
            rendered, expected,
            "no RedrivePolicy until the DLQ's ARN is known"
        );
    }

    #[test]
    fn renders_no_dead_letter_queue_when_disabled() {
        let rendered = render(&ctx(), &spec(false, false), Some(DLQ_ARN));
        assert_eq!(rendered.dlq, None);
        assert!(!rendered.queue.attributes.contains_key("RedrivePolicy"));
        assert!(!rendered.queue.attributes.contains_key("FifoQueue"));
        assert!(
            !rendered
                .queue
                .attributes
                .contains_key("ContentBasedDeduplication")
        );
    }

    #[test]
    fn fifo_is_not_settable_after_creation() {
        let rendered = render(&ctx(), &spec(true, false), None);
        let settable = settable(&rendered.queue.attributes);
        assert!(!settable.contains_key("FifoQueue"));
        assert_eq!(settable.len(), rendered.queue.attributes.len() - 1);
    }

    #[test]
    fn normalises_the_managed_fields() {
        let reconciler_fields = desired_fields(&spec(false, true));
        assert_eq!(
            reconciler_fields,
            json!({
                "fifo": false,
                "message_retention_seconds": 345_600,
                "visibility_timeout_seconds": 300,
                "delay_seconds": 5,
                "max_message_size_bytes": 262_144,
                "receive_wait_time_seconds": 20,
                "content_based_deduplication": false,
                "dead_letter_queue": {"max_receive_count": 3, "message_retention_seconds": 1_209_600},
            })
        );
        assert_eq!(
            desired_fields(&spec(false, false))["dead_letter_queue"],
            Value::Null
        );
    }

    /// What GetQueueAttributes(All) answers for a queue created from `rendered`: the
    /// rendered attributes plus the ones SQS adds.
    fn live(rendered: &RenderedQueue, arn: &str) -> BTreeMap<String, String> {
        let mut attributes = rendered.attributes.clone();
        attributes.insert("QueueArn".into(), arn.into());
        attributes.insert("ApproximateNumberOfMessages".into(), "0".into());
        attributes.insert("CreatedTimestamp".into(), "1700000000".into());
        attributes.insert("SqsManagedSseEnabled".into(), "true".into());
        attributes
    }

    #[test]
    fn reading_back_what_was_rendered_shows_no_change() {
        for (fifo, dlq) in [(false, false), (false, true), (true, false), (true, true)] {
            let spec = spec(fifo, dlq);
            let rendered = render(&ctx(), &spec, Some(DLQ_ARN));
            let attributes = live(&rendered.queue, "arn:aws:sqs:us-east-1:111122223333:q");
            let redrive = parse_redrive(attributes.get("RedrivePolicy").map_or("", String::as_str))
                .expect("the rendered policy parses");
            let dlq_attributes = rendered.dlq.as_ref().map(|d| live(d, DLQ_ARN));
            assert_eq!(
                observed_fields(&attributes, redrive.as_ref(), dlq_attributes.as_ref()),
                desired_fields(&spec),
                "fifo {fifo}, dlq {dlq}"
            );
        }
    }

    #[test]
    fn a_missing_dead_letter_queue_shows_as_a_diff() {
        let spec = spec(false, true);
        let rendered = render(&ctx(), &spec, Some(DLQ_ARN));
        let attributes = live(&rendered.queue, "arn:aws:sqs:us-east-1:111122223333:q");
        let redrive = parse_redrive(&attributes["RedrivePolicy"]).expect("parses");
        let fields = observed_fields(&attributes, redrive.as_ref(), None);
        assert_eq!(
            fields["dead_letter_queue"],
            json!({"max_receive_count": 3, "message_retention_seconds": null})
        );
        assert_ne!(fields, desired_fields(&spec));
    }

    #[test]
    fn redrive_policies_parse_in_every_spelling() {
        let expected = Redrive {
            dlq_arn: DLQ_ARN.into(),
            max_receive_count: Some(5),
        };
        let number = format!(r#"{{"deadLetterTargetArn": "{DLQ_ARN}", "maxReceiveCount": 5}}"#);
        let string = format!(r#"{{"maxReceiveCount":"5","deadLetterTargetArn":"{DLQ_ARN}"}}"#);
        assert_eq!(parse_redrive(&number), Ok(Some(expected.clone())));
        assert_eq!(parse_redrive(&string), Ok(Some(expected)));
        assert_eq!(parse_redrive(""), Ok(None));
        assert_eq!(
            parse_redrive(&redrive_policy(DLQ_ARN, 7)).map(|r| r.and_then(|r| r.max_receive_count)),
            Ok(Some(7))
        );
        let bad = parse_redrive("{not json").expect_err("malformed");
        assert!(bad.message.contains("RedrivePolicy"), "{}", bad.message);
        assert!(parse_redrive(r#"{"maxReceiveCount":3}"#).is_err());
    }

    #[test]
    fn arns_give_the_queue_name_and_account() {
        assert_eq!(
            arn_parts(DLQ_ARN),
            Some(("shop-development-orders-jobs-dlq", "111122223333"))
        );
        assert_eq!(
            arn_parts("arn:aws:sqs:us-east-1:1:q.fifo"),
            Some(("q.fifo", "1"))
        );
        assert_eq!(arn_parts("not-an-arn"), None);
    }

    fn mock_reconciler(rules: &[&aws_smithy_mocks::Rule]) -> SqsReconciler {
        let client = mock_client!(
            aws_sdk_sqs,
            RuleMode::MatchAny,
            rules.iter().copied(),
            |config| {
                config.retry_config(
                    RetryConfig::standard()
                        .with_initial_backoff(Duration::from_millis(1))
                        .with_max_backoff(Duration::from_millis(5)),
                )
            }
        );
        SqsReconciler::new(client)
    }

    #[test]
    fn only_fifo_needs_a_replacement() {
        let reconciler = mock_reconciler(&[]);
        assert_eq!(reconciler.field_change("fifo"), FieldChange::Replace);
        assert_eq!(
            reconciler.field_change("visibility_timeout_seconds"),
            FieldChange::InPlace
        );
        assert_eq!(
            reconciler.field_change("dead_letter_queue.max_receive_count"),
            FieldChange::InPlace
        );
        assert_eq!(
            reconciler.field_change("dead_letter_queue"),
            FieldChange::InPlace
        );
        assert_eq!(
            panka_core::reconcile::Reconciler::kind(&reconciler),
            panka_core::model::ComponentKind::Sqs
        );
    }

    fn attributes_output(attributes: &BTreeMap<String, String>) -> GetQueueAttributesOutput {
        GetQueueAttributesOutput::builder()
            .set_attributes(Some(sdk_attributes(attributes)))
            .build()
    }

    #[tokio::test]
    async fn throttling_and_unavailability_are_retried_by_the_sdk() {
        let spec = spec(false, false);
        let attributes = live(
            &render(&ctx(), &spec, None).queue,
            "arn:aws:sqs:us-east-1:111122223333:q",
        );
        let get_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#.into()),
            )
            .http_status(503, None)
            .output(move || attributes_output(&attributes))
            .build();
        let reconciler = mock_reconciler(&[&get_attributes]);
        let known = KnownIds::from([("queue_url".to_string(), URL.to_string())]);
        let observed = reconciler
            .read(&ctx(), &known)
            .await
            .expect("read succeeds after the retries")
            .expect("the queue exists");
        assert_eq!(
            get_attributes.num_calls(),
            3,
            "two failures, then the answer"
        );
        assert_eq!(observed.fields, desired_fields(&spec));
        assert_eq!(observed.outputs["url"], URL);
        assert!(!observed.outputs.contains_key("dlq_url"));
    }

    #[tokio::test]
    async fn throttling_that_outlasts_the_retries_is_classified() {
        let get_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#.into()),
            )
            .repeatedly()
            .build();
        let reconciler = mock_reconciler(&[&get_attributes]);
        let known = KnownIds::from([("queue_url".to_string(), URL.to_string())]);
        let error = reconciler
            .read(&ctx(), &known)
            .await
            .expect_err("throttled");
        assert_eq!(error.kind, ErrorKind::Throttled, "{error:?}");
        assert!(
            error.message.contains("ThrottlingException"),
            "{}",
            error.message
        );
        assert_eq!(
            get_attributes.num_calls(),
            3,
            "the standard retry makes three attempts"
        );
    }

    #[tokio::test]
    async fn a_queue_not_visible_yet_is_waited_for() {
        let get_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .sequence()
            .http_response(not_found)
            .output(|| GetQueueAttributesOutput::builder().build())
            .build();
        let reconciler = mock_reconciler(&[&get_attributes]);
        let known = KnownIds::from([("queue_url".to_string(), URL.to_string())]);
        let first = reconciler.poll_ready(&ctx(), &known).await.expect("probe");
        assert!(matches!(first, Readiness::Waiting { .. }), "{first:?}");
        let second = reconciler.poll_ready(&ctx(), &known).await.expect("probe");
        assert_eq!(second, Readiness::Ready);
    }

    #[tokio::test]
    async fn a_create_that_races_another_create_adopts_the_queue() {
        // With the query-compatible code (what SQS sends) and with the JSON shape alone.
        for query_code in [Some("QueueAlreadyExists"), None] {
            race_then_adopt(query_code).await;
        }
    }

    async fn race_then_adopt(query_code: Option<&'static str>) {
        let spec = spec(false, false);
        let rendered = render(&ctx(), &spec, None);
        let main_name = rendered.queue.name.clone();
        let attributes = live(&rendered.queue, "arn:aws:sqs:us-east-1:111122223333:q");
        // Not there when looked up, there when created: another apply got in between.
        let main_url = mock!(aws_sdk_sqs::Client::get_queue_url)
            .match_requests(move |r| r.queue_name() == Some(main_name.as_str()))
            .sequence()
            .http_response(not_found)
            .output(|| GetQueueUrlOutput::builder().queue_url(URL).build())
            .build();
        let other_urls = mock!(aws_sdk_sqs::Client::get_queue_url)
            .sequence()
            .http_response(not_found)
            .repeatedly()
            .build();
        let create = mock!(aws_sdk_sqs::Client::create_queue)
            .then_http_response(move || error_response("QueueNameExists", query_code));
        let tags = mock!(aws_sdk_sqs::Client::list_queue_tags).then_output(|| {
            ListQueueTagsOutput::builder()
                .set_tags(Some(ctx().tags().into_iter().collect()))
                .build()
        });
        let set = mock!(aws_sdk_sqs::Client::set_queue_attributes)
            .match_requests(|r| {
                let attributes = r.attributes().cloned().unwrap_or_default();
                attributes
                    .get(&QueueAttributeName::RedrivePolicy)
                    .map(String::as_str)
                    == Some("")
                    && !attributes.contains_key(&QueueAttributeName::FifoQueue)
                    && attributes
                        .get(&QueueAttributeName::VisibilityTimeout)
                        .map(String::as_str)
                        == Some("300")
            })
            .then_output(|| SetQueueAttributesOutput::builder().build());
        let get_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .then_output(move || attributes_output(&attributes));
        let reconciler = mock_reconciler(&[
            &main_url,
            &other_urls,
            &create,
            &tags,
            &set,
            &get_attributes,
        ]);
        let observed = reconciler
            .create(&ctx(), &spec, &Inputs::default())
            .await
            .expect("the raced queue is adopted");
        assert_eq!(create.num_calls(), 1);
        assert_eq!(
            set.num_calls(),
            1,
            "the adopted queue's attributes are converged"
        );
        assert_eq!(observed.physical_ids["queue_url"], URL);
        assert_eq!(observed.fields, desired_fields(&spec));
    }

    #[tokio::test]
    async fn the_queue_created_by_create_queue_has_the_tags_and_attributes() {
        let spec = spec(false, false);
        let rendered = render(&ctx(), &spec, None);
        let attributes = live(&rendered.queue, "arn:aws:sqs:us-east-1:111122223333:q");
        let urls = mock!(aws_sdk_sqs::Client::get_queue_url)
            .sequence()
            .http_response(not_found)
            .repeatedly()
            .build();
        let expected_attributes = sdk_attributes(&rendered.queue.attributes);
        let expected_tags: HashMap<String, String> = ctx().tags().into_iter().collect();
        let create = mock!(aws_sdk_sqs::Client::create_queue)
            .match_requests(move |r| {
                r.attributes() == Some(&expected_attributes) && r.tags() == Some(&expected_tags)
            })
            .then_output(|| CreateQueueOutput::builder().queue_url(URL).build());
        let get_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .then_output(move || attributes_output(&attributes));
        let reconciler = mock_reconciler(&[&urls, &create, &get_attributes]);
        let observed = reconciler
            .create(&ctx(), &spec, &Inputs::default())
            .await
            .expect("created");
        assert_eq!(create.num_calls(), 1);
        assert_eq!(
            observed.fields,
            reconciler.normalise(&ctx(), &spec, &Inputs::default())
        );
    }
}
