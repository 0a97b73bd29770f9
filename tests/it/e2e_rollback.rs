//! A MicroService's error-rate alarm on a local `moto_server`: put before the ECS service
//! refers to it, with the environment's default threshold, changed, turned off, listed
//! as the component's and deleted with it. (The rollback itself, ECS going back on the
//! alarm, is driven with SDK mocks in `providers/src/microservice/mod.rs`.)

use crate::e2e_microservice::{api, create_secret, ctx, inputs, reconciler, wrap};
use crate::support::moto::MotoServer;
use panka_core::drift::Owner;
use panka_core::reconcile::{DeleteOptions, Reconciler, ResourceContext};
use panka_providers::aws::AwsClients;
use panka_providers::microservice::names::Names;

/// The alarm's threshold and its queries as (id, metric or expression).
async fn alarm(clients: &AwsClients, name: &str) -> Option<(f64, Vec<(String, String)>)> {
    let out = clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("describe alarms");
    let alarm = out.metric_alarms().first()?;
    let mut queries: Vec<(String, String)> = alarm
        .metrics()
        .iter()
        .map(|q| {
            let what = match (q.expression(), q.metric_stat()) {
                (Some(expression), _) => expression.to_string(),
                (None, Some(stat)) => stat
                    .metric()
                    .and_then(|m| m.metric_name())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            (q.id().unwrap_or_default().to_string(), what)
        })
        .collect();
    queries.sort();
    Some((alarm.threshold().unwrap_or_default(), queries))
}

#[tokio::test]
async fn the_error_rate_alarm_follows_the_spec() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let mut spec = api("v1.0.0");

    // The default outside production: 10 % of at least 20 requests a minute.
    let created = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert_eq!(created.fields, r.normalise(&ctx(), &wrap(&spec), &inputs()));
    assert_eq!(created.fields["rollback"]["error_rate_percent"], 10);
    assert_eq!(
        created.physical_ids["error_rate_alarm"],
        names.error_rate_alarm
    );
    let (threshold, queries) = alarm(clients, &names.error_rate_alarm)
        .await
        .expect("the alarm exists");
    assert_eq!(threshold, 10.0);
    assert_eq!(
        queries,
        [
            ("elb5xx".to_string(), "HTTPCode_ELB_5XX_Count".to_string()),
            (
                "rate".to_string(),
                "IF(requests >= 20, 100 * (target5xx + elb5xx) / requests, 0)".to_string()
            ),
            ("requests".to_string(), "RequestCount".to_string()),
            (
                "target5xx".to_string(),
                "HTTPCode_Target_5XX_Count".to_string()
            ),
        ]
    );

    // Listed as the component's, for the orphan search.
    let owner = Owner {
        stack: ctx().stack,
        environment: ctx().environment,
    };
    let tagged = r.tagged(&owner).await.expect("tagged");
    assert!(
        tagged
            .iter()
            .any(|t| t.kind == "cloudwatch_alarm" && t.id == names.error_rate_alarm),
        "{tagged:?}"
    );

    // A production environment's default is stricter; a written rate wins over both.
    let production = ResourceContext {
        production: true,
        ..ctx()
    };
    assert_eq!(
        r.normalise(&production, &wrap(&spec), &inputs())["rollback"]["error_rate_percent"],
        5
    );
    spec.rollback.error_rate_percent = Some(3);
    let updated = r
        .update(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("update");
    assert_eq!(updated.fields, r.normalise(&ctx(), &wrap(&spec), &inputs()));
    assert_eq!(
        alarm(clients, &names.error_rate_alarm).await.map(|a| a.0),
        Some(3.0)
    );

    // Off: the alarm goes, and the field with it.
    spec.rollback.error_rate_off = true;
    let off = r
        .update(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("turn it off");
    assert_eq!(off.fields, r.normalise(&ctx(), &wrap(&spec), &inputs()));
    assert!(off.fields.get("rollback").is_none(), "{}", off.fields);
    assert!(alarm(clients, &names.error_rate_alarm).await.is_none());

    // On again, then deleted with the service.
    spec.rollback.error_rate_off = false;
    let on = r
        .update(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("on again");
    r.delete(&ctx(), &on.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert!(alarm(clients, &names.error_rate_alarm).await.is_none());
}
