//! The `SQS` reconciler end to end on a local `moto_server`: create, read back, in-place
//! updates, out-of-band changes, the dead-letter queue turned on and off, FIFO queues,
//! adoption, refusal of a foreign queue, and deletion, checked against what moto then holds
//! (not only against what the reconciler says).
//!
//! What moto 5.2.1 does differently from SQS:
//! - A deleted queue's name can be reused at once (SQS refuses it for 60 seconds with
//!   `QueueDeletedRecently`), and a deleted queue is gone at once (SQS may answer for it
//!   for up to 60 seconds).
//! - Attribute changes show at once (SQS takes up to 60 seconds, 15 minutes for
//!   `MessageRetentionPeriod`).
//! - `CreateQueue` on an existing name with the same attributes and other tags replaces the
//!   queue's tags; the reconciler never sends it for a name it has not checked.
//!
//! Throttling and "not visible yet" sequences are tested with `aws-smithy-mocks` in
//! `providers/src/sqs.rs` (this package has no `aws-smithy-mocks` dev-dependency).

use std::collections::BTreeMap;

use crate::support::moto::{MotoServer, REGION};
use panka_core::model::{ComponentId, ComponentSpec, DeadLetterQueue, SqsSpec};
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, Inputs, KnownIds, Observed, Readiness, Reconciler, ResourceContext,
};
use panka_providers::aws::AwsClients;
use panka_providers::naming;
use panka_providers::sqs::SqsReconciler;
use serde_json::{Value, json};

fn ctx() -> ResourceContext {
    ResourceContext {
        stack: "shop".into(),
        environment: "development".into(),
        id: ComponentId::new("orders", "jobs"),
        region: REGION.into(),
        production: false,
        network: None,
        domain: None,
    }
}

fn sqs(fifo: bool, dlq: Option<u32>) -> SqsSpec {
    SqsSpec {
        fifo,
        message_retention_seconds: 345_600,
        visibility_timeout_seconds: 300,
        delay_seconds: 0,
        max_message_size_bytes: 262_144,
        receive_wait_time_seconds: 10,
        content_based_deduplication: fifo,
        dead_letter_queue: dlq.map(|max_receive_count| DeadLetterQueue {
            max_receive_count,
            message_retention_seconds: 1_209_600,
        }),
    }
}

fn spec(sqs: SqsSpec) -> ComponentSpec {
    ComponentSpec::Sqs(sqs)
}

fn reconciler(clients: &AwsClients) -> SqsReconciler {
    SqsReconciler::new(clients.sqs.clone())
}

/// Every attribute of the queue at `url`, straight from SQS; `None` once it is gone.
async fn raw_attributes(clients: &AwsClients, url: &str) -> Option<BTreeMap<String, String>> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names("All".into())
        .send()
        .await
        .ok()?;
    Some(
        out.attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

async fn raw_tags(clients: &AwsClients, url: &str) -> BTreeMap<String, String> {
    let out = clients
        .sqs
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("list the tags of {url}: {err:?}"));
    out.tags()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

async fn queue_urls(clients: &AwsClients) -> Vec<String> {
    let out = clients
        .sqs
        .list_queues()
        .send()
        .await
        .expect("list the queues");
    let mut urls = out.queue_urls().to_vec();
    urls.sort();
    urls
}

fn redrive(attributes: &BTreeMap<String, String>) -> Value {
    let text = attributes.get("RedrivePolicy").expect("a RedrivePolicy");
    serde_json::from_str(text).expect("the RedrivePolicy is JSON")
}

/// The dotted paths at which two normalised field sets differ.
fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    fn walk(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(
                        &path,
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

async fn create(reconciler: &SqsReconciler, wanted: &ComponentSpec) -> Observed {
    reconciler
        .create(&ctx(), wanted, &Inputs::default())
        .await
        .unwrap_or_else(|err| panic!("create: {err} (hint: {:?})", err.hint))
}

async fn update(reconciler: &SqsReconciler, wanted: &ComponentSpec) -> Observed {
    reconciler
        .update(&ctx(), wanted, &Inputs::default())
        .await
        .unwrap_or_else(|err| panic!("update: {err} (hint: {:?})", err.hint))
}

async fn read(reconciler: &SqsReconciler, known: &KnownIds) -> Option<Observed> {
    reconciler
        .read(&ctx(), known)
        .await
        .unwrap_or_else(|err| panic!("read: {err} (hint: {:?})", err.hint))
}

#[tokio::test]
async fn standard_queue_with_a_dead_letter_queue_from_create_to_delete() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    let wanted = spec(sqs(false, Some(3)));

    let created = create(&reconciler, &wanted).await;
    let desired = reconciler.normalise(&ctx(), &wanted, &Inputs::default());
    assert_eq!(
        created.fields, desired,
        "no spurious diff right after create"
    );
    let url = created.outputs["url"].clone();
    let dlq_url = created.outputs["dlq_url"].clone();
    let dlq_arn = created.outputs["dlq_arn"].clone();
    assert!(url.ends_with("/shop-development-orders-jobs"), "{url}");
    assert!(
        dlq_url.ends_with("/shop-development-orders-jobs-dlq"),
        "{dlq_url}"
    );
    assert!(
        dlq_arn.ends_with(":shop-development-orders-jobs-dlq"),
        "{dlq_arn}"
    );
    assert_eq!(
        created.physical_ids.keys().collect::<Vec<_>>(),
        ["dlq_arn", "dlq_url", "queue_arn", "queue_url"]
    );
    assert_eq!(created.physical_ids["queue_arn"], created.outputs["arn"]);

    // What SQS holds, not what the reconciler says.
    let attributes = raw_attributes(clients, &url)
        .await
        .expect("the queue exists");
    assert_eq!(attributes["VisibilityTimeout"], "300");
    assert_eq!(attributes["MessageRetentionPeriod"], "345600");
    assert_eq!(attributes["ReceiveMessageWaitTimeSeconds"], "10");
    assert_eq!(attributes["MaximumMessageSize"], "262144");
    assert!(!attributes.contains_key("FifoQueue"));
    let policy = redrive(&attributes);
    assert_eq!(policy["maxReceiveCount"].as_u64(), Some(3), "{policy}");
    assert_eq!(policy["deadLetterTargetArn"], json!(dlq_arn));
    let dlq_attributes = raw_attributes(clients, &dlq_url)
        .await
        .expect("the DLQ exists");
    assert_eq!(dlq_attributes["MessageRetentionPeriod"], "1209600");
    assert_eq!(dlq_attributes["QueueArn"], dlq_arn);
    for queue in [&url, &dlq_url] {
        let tags = raw_tags(clients, queue).await;
        assert_eq!(tags, naming::tags(&ctx()), "tags of {queue}");
        assert_eq!(tags["panka:component"], "orders/jobs");
    }

    // Read by the recorded ids and by name alike.
    assert_eq!(
        read(&reconciler, &created.physical_ids).await.as_ref(),
        Some(&created)
    );
    assert_eq!(
        read(&reconciler, &KnownIds::new()).await.as_ref(),
        Some(&created)
    );
    assert_eq!(
        reconciler.poll_ready(&ctx(), &created.physical_ids).await,
        Ok(Readiness::Ready)
    );

    // In place: the visibility timeout and the receive count, nothing else.
    let mut changed = sqs(false, Some(5));
    changed.visibility_timeout_seconds = 60;
    let changed = spec(changed);
    let changed_fields = reconciler.normalise(&ctx(), &changed, &Inputs::default());
    let paths = changed_paths(&created.fields, &changed_fields);
    assert_eq!(
        paths,
        [
            "dead_letter_queue.max_receive_count",
            "visibility_timeout_seconds"
        ]
    );
    assert!(
        paths
            .iter()
            .all(|p| reconciler.field_change(p) == panka_core::reconcile::FieldChange::InPlace)
    );
    let updated = update(&reconciler, &changed).await;
    assert_eq!(updated.fields, changed_fields);
    assert_eq!(updated.physical_ids, created.physical_ids, "same queues");
    let attributes = raw_attributes(clients, &url)
        .await
        .expect("the queue exists");
    assert_eq!(attributes["VisibilityTimeout"], "60");
    assert_eq!(attributes["MessageRetentionPeriod"], "345600", "unchanged");
    assert_eq!(redrive(&attributes)["maxReceiveCount"].as_u64(), Some(5));
    assert_eq!(redrive(&attributes)["deadLetterTargetArn"], json!(dlq_arn));

    // Changed behind panka's back: read shows it.
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes("VisibilityTimeout".into(), "45")
        .send()
        .await
        .expect("change the visibility timeout out of band");
    let drifted = read(&reconciler, &updated.physical_ids)
        .await
        .expect("still there");
    assert_eq!(drifted.fields["visibility_timeout_seconds"], json!(45));
    assert_eq!(
        changed_paths(&drifted.fields, &changed_fields),
        ["visibility_timeout_seconds"]
    );

    // The DLQ turned off: the policy goes, then the DLQ.
    let mut without_dlq = sqs(false, None);
    without_dlq.visibility_timeout_seconds = 60;
    let without_dlq = spec(without_dlq);
    let disabled = update(&reconciler, &without_dlq).await;
    assert_eq!(
        disabled.fields,
        reconciler.normalise(&ctx(), &without_dlq, &Inputs::default())
    );
    assert_eq!(disabled.fields["dead_letter_queue"], Value::Null);
    assert!(!disabled.outputs.contains_key("dlq_url") && !disabled.outputs.contains_key("dlq_arn"));
    let attributes = raw_attributes(clients, &url)
        .await
        .expect("the queue exists");
    assert!(
        attributes.get("RedrivePolicy").is_none_or(String::is_empty),
        "{attributes:?}"
    );
    assert_eq!(
        raw_attributes(clients, &dlq_url).await,
        None,
        "the DLQ is gone"
    );
    assert_eq!(queue_urls(clients).await, std::slice::from_ref(&url));

    reconciler
        .delete(&ctx(), &disabled.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(read(&reconciler, &disabled.physical_ids).await, None);
    assert_eq!(read(&reconciler, &KnownIds::new()).await, None);
    assert!(queue_urls(clients).await.is_empty());
    // Deleting again is fine: gone is success.
    reconciler
        .delete(&ctx(), &disabled.physical_ids, DeleteOptions::default())
        .await
        .expect("delete again");
}

#[tokio::test]
async fn a_dead_letter_queue_can_be_turned_on_later() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    let created = create(&reconciler, &spec(sqs(false, None))).await;
    assert_eq!(created.fields["dead_letter_queue"], Value::Null);
    assert!(!created.physical_ids.contains_key("dlq_url"));

    let with_dlq = spec(sqs(false, Some(4)));
    let updated = update(&reconciler, &with_dlq).await;
    assert_eq!(
        updated.fields,
        reconciler.normalise(&ctx(), &with_dlq, &Inputs::default())
    );
    let attributes = raw_attributes(clients, &created.outputs["url"])
        .await
        .expect("queue");
    assert_eq!(redrive(&attributes)["maxReceiveCount"].as_u64(), Some(4));
    assert_eq!(
        redrive(&attributes)["deadLetterTargetArn"],
        json!(updated.outputs["dlq_arn"])
    );
    assert_eq!(queue_urls(clients).await.len(), 2);
}

#[tokio::test]
async fn fifo_queue_and_its_fifo_dead_letter_queue() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    let wanted = spec(sqs(true, Some(2)));

    let created = create(&reconciler, &wanted).await;
    assert_eq!(
        created.fields,
        reconciler.normalise(&ctx(), &wanted, &Inputs::default())
    );
    assert_eq!(created.fields["fifo"], json!(true));
    let url = &created.outputs["url"];
    let dlq_url = &created.outputs["dlq_url"];
    assert!(url.ends_with("/shop-development-orders-jobs.fifo"), "{url}");
    assert!(
        dlq_url.ends_with("/shop-development-orders-jobs-dlq.fifo"),
        "{dlq_url}"
    );

    let attributes = raw_attributes(clients, url)
        .await
        .expect("the queue exists");
    assert_eq!(attributes["FifoQueue"], "true");
    assert_eq!(attributes["ContentBasedDeduplication"], "true");
    assert_eq!(redrive(&attributes)["maxReceiveCount"].as_u64(), Some(2));
    let dlq_attributes = raw_attributes(clients, dlq_url)
        .await
        .expect("the DLQ exists");
    assert_eq!(dlq_attributes["FifoQueue"], "true");

    // Found by name though the reader does not know the queue is FIFO.
    assert_eq!(
        read(&reconciler, &KnownIds::new()).await.as_ref(),
        Some(&created)
    );
    assert_eq!(
        reconciler.field_change("fifo"),
        panka_core::reconcile::FieldChange::Replace
    );

    reconciler
        .delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("delete by name");
    assert!(queue_urls(clients).await.is_empty());
}

#[tokio::test]
async fn create_twice_adopts_and_converges_without_duplicates() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    let wanted = spec(sqs(false, Some(3)));

    let first = create(&reconciler, &wanted).await;
    let second = create(&reconciler, &wanted).await;
    assert_eq!(second, first, "same queues, same URLs");
    assert_eq!(
        queue_urls(clients).await.len(),
        2,
        "the queue and its DLQ, once"
    );

    // A create that died after CreateQueue, before the attributes were right (or someone
    // changed them): the next create adopts the tagged queue and converges it.
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&first.outputs["url"])
        .attributes("VisibilityTimeout".into(), "7")
        .attributes("RedrivePolicy".into(), "")
        .send()
        .await
        .expect("change the queue out of band");
    let adopted = create(&reconciler, &wanted).await;
    assert_eq!(
        adopted.fields,
        reconciler.normalise(&ctx(), &wanted, &Inputs::default())
    );
    assert_eq!(adopted.outputs["url"], first.outputs["url"]);
    assert_eq!(queue_urls(clients).await.len(), 2);
}

#[tokio::test]
async fn a_queue_with_panka_tags_and_no_state_is_adopted() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    // What a crashed apply leaves: the queue, tagged, with other attributes.
    let name = naming::sqs_queue(&ctx(), "", false);
    let url = clients
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes("VisibilityTimeout".into(), "12")
        .set_tags(Some(naming::tags(&ctx()).into_iter().collect()))
        .send()
        .await
        .expect("create the leftover queue")
        .queue_url()
        .map(str::to_owned)
        .expect("a URL");
    let reconciler = reconciler(clients);
    let wanted = spec(sqs(false, None));
    let adopted = create(&reconciler, &wanted).await;
    assert_eq!(adopted.outputs["url"], url);
    assert_eq!(
        adopted.fields,
        reconciler.normalise(&ctx(), &wanted, &Inputs::default())
    );
    assert_eq!(queue_urls(clients).await, [url]);
}

#[tokio::test]
async fn a_foreign_queue_is_refused_and_left_untouched() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    let name = naming::sqs_queue(&ctx(), "", false);
    let mut other_tags = naming::tags(&ctx());
    other_tags.insert("panka:component".into(), "billing/jobs".into());
    let url = clients
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes("VisibilityTimeout".into(), "30")
        .set_tags(Some(other_tags.clone().into_iter().collect()))
        .send()
        .await
        .expect("create the foreign queue")
        .queue_url()
        .map(str::to_owned)
        .expect("a URL");
    let before = raw_attributes(clients, &url)
        .await
        .expect("the foreign queue");

    let error = reconciler
        .create(&ctx(), &spec(sqs(false, Some(3))), &Inputs::default())
        .await
        .expect_err("a foreign queue is not adopted");
    assert_eq!(error.kind, ErrorKind::Foreign, "{error:?}");
    assert!(error.message.contains("billing/jobs"), "{}", error.message);
    assert!(error.hint.is_some());

    assert_eq!(raw_tags(clients, &url).await, other_tags, "tags untouched");
    assert_eq!(
        raw_attributes(clients, &url).await,
        Some(before),
        "attributes untouched"
    );
    assert_eq!(
        queue_urls(clients).await,
        std::slice::from_ref(&url),
        "no DLQ was created"
    );

    // Not this component's: absent to read, and a delete is refused the same way (the one
    // ownership policy) with the queue left as it was.
    assert_eq!(read(&reconciler, &KnownIds::new()).await, None);
    let refused = reconciler
        .delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect_err("a foreign queue is not deleted");
    assert_eq!(refused.kind, ErrorKind::Foreign, "{refused:?}");
    assert!(
        refused.message.contains("billing/jobs"),
        "{}",
        refused.message
    );
    assert_eq!(queue_urls(clients).await, std::slice::from_ref(&url));

    // State vouches for the queue it recorded, whatever its tags say now; a foreign queue
    // under the other spelling (`.fifo`) is not this component's name and stays.
    let other_spelling = clients
        .sqs
        .create_queue()
        .queue_name(naming::sqs_queue(&ctx(), "", true))
        .attributes("FifoQueue".into(), "true")
        .set_tags(Some(other_tags.clone().into_iter().collect()))
        .send()
        .await
        .expect("create a foreign FIFO queue")
        .queue_url()
        .map(str::to_owned)
        .expect("a URL");
    let recorded = KnownIds::from([("queue_url".to_string(), url)]);
    reconciler
        .delete(&ctx(), &recorded, DeleteOptions::default())
        .await
        .expect("a recorded queue is deleted");
    assert_eq!(queue_urls(clients).await, [other_spelling]);
}

#[tokio::test]
async fn a_foreign_dead_letter_queue_is_refused_before_anything_is_created() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let reconciler = reconciler(clients);
    // Untagged: made by hand.
    let dlq_name = naming::sqs_queue(&ctx(), "-dlq", false);
    clients
        .sqs
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .expect("create the untagged queue");

    let error = reconciler
        .create(&ctx(), &spec(sqs(false, Some(3))), &Inputs::default())
        .await
        .expect_err("a foreign DLQ is not adopted");
    assert_eq!(error.kind, ErrorKind::Foreign, "{error:?}");
    assert!(error.message.contains("no panka tags"), "{}", error.message);
    assert_eq!(
        queue_urls(clients).await.len(),
        1,
        "the main queue was not created"
    );
}

#[tokio::test]
async fn deleting_a_component_that_was_never_created_is_fine() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let reconciler = reconciler(&account.clients);
    reconciler
        .delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("nothing to delete");
    // Ids recorded for queues that are gone are fine too.
    let stale = KnownIds::from([(
        "queue_url".to_owned(),
        format!("{}/{}/gone", moto.endpoint(), account.account_id),
    )]);
    reconciler
        .delete(&ctx(), &stale, DeleteOptions::default())
        .await
        .expect("stale ids");
    assert_eq!(read(&reconciler, &stale).await, None);
    assert!(matches!(
        reconciler.poll_ready(&ctx(), &KnownIds::new()).await,
        Ok(Readiness::Waiting { .. })
    ));
}
