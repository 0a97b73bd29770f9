//! The load balancer the web services of an environment share on its domain, end to end
//! on a local `moto_server`: services added and removed around each other, and a service
//! moved from its own load balancer onto the shared one and back, checked to stay served
//! at every step it reports.

use crate::e2e_https::{
    HOST, create_zone, host_rules, https_listener, https_route, listeners, load_balancer, moto,
    on_domain, records, security_group_named, with_aliases,
};
use crate::e2e_microservice::{api, create_secret, ctx, ecs_service, inputs, reconciler, wrap};
use crate::support::moto::MotoServer;
use panka_core::engine::{Event, EventSink};
use panka_core::model::ComponentId;
use panka_core::plan::Action;
use panka_core::reconcile::{DeleteOptions, Observed, Reconciler, ResourceContext};
use panka_providers::aws::AwsClients;
use panka_providers::microservice::MicroServiceReconciler;
use panka_providers::microservice::names::Names;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn component(service: &str, name: &str) -> ResourceContext {
    ResourceContext {
        id: ComponentId::new(service, name),
        ..on_domain(None)
    }
}

/// The rules of the shared HTTPS listener: target group → (rule ARN, priority, hosts).
async fn rules(
    clients: &AwsClients,
    lb_arn: &str,
) -> BTreeMap<String, (String, String, Vec<String>)> {
    let mut found = BTreeMap::new();
    for listener in listeners(clients, lb_arn).await {
        for rule in host_rules(clients, listener.listener_arn().expect("arn")).await {
            let hosts = rule
                .conditions()
                .iter()
                .filter_map(|c| c.host_header_config())
                .flat_map(|h| h.values().to_vec())
                .collect();
            found.insert(
                rule.actions()[0]
                    .target_group_arn()
                    .expect("forwards")
                    .to_string(),
                (
                    rule.rule_arn().expect("arn").to_string(),
                    rule.priority().expect("priority").to_string(),
                    hosts,
                ),
            );
        }
    }
    found
}

/// The certificates the shared HTTPS listener serves, the default one first.
async fn listener_certificates(clients: &AwsClients, lb_arn: &str) -> Vec<String> {
    let https = https_listener(clients, lb_arn).await;
    let out = clients
        .elasticloadbalancingv2
        .describe_listener_certificates()
        .listener_arn(https.listener_arn().expect("arn"))
        .send()
        .await
        .expect("certificates");
    let mut certificates: Vec<(bool, String)> = out
        .certificates()
        .iter()
        .map(|c| {
            (
                c.is_default() != Some(true),
                c.certificate_arn().expect("arn").to_string(),
            )
        })
        .collect();
    certificates.sort();
    certificates.dedup();
    certificates.into_iter().map(|(_, arn)| arn).collect()
}

/// The target groups the ECS service registers its tasks with.
async fn registered(clients: &AwsClients, names: &Names) -> Vec<String> {
    let mut groups: Vec<String> = ecs_service(clients, names)
        .await
        .iter()
        .flat_map(|s| s.load_balancers())
        .filter_map(|l| l.target_group_arn().map(str::to_string))
        .collect();
    groups.sort();
    groups
}

async fn create(r: &MicroServiceReconciler, ctx: &ResourceContext, aliases: &[&str]) -> Observed {
    let spec = with_aliases(aliases);
    let created = r
        .create(ctx, &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert_eq!(
        created.fields,
        r.normalise(ctx, &wrap(&spec), &inputs()),
        "reading back shows no change"
    );
    created
}

#[tokio::test]
async fn services_of_an_environment_share_one_load_balancer() {
    let moto = moto();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let zone = create_zone(clients).await;
    let r = reconciler(clients);
    let (api_ctx, web_ctx, admin_ctx) = (
        component("email-service", "api"),
        component("email-service", "web"),
        component("billing", "admin"),
    );
    let names = Names::new(&api_ctx);

    // ---- two services: one load balancer, two rules, two certificates, two names
    let (api, web) = tokio::join!(
        create(&r, &api_ctx, &[HOST]),
        create(&r, &web_ctx, &["www.company.com"]),
    );
    assert_eq!(api.outputs["url"], format!("https://{HOST}"));
    assert_eq!(web.outputs["url"], "https://www.company.com");
    assert_eq!(
        api.fields["https"]["load_balancer"],
        "shared by the environment"
    );
    let shared = load_balancer(clients, &names.shared_load_balancer)
        .await
        .expect("the shared ALB");
    assert_eq!(
        shared.listeners,
        [
            ("HTTP".to_string(), 80, "redirect".to_string()),
            ("HTTPS".to_string(), 443, "fixed-response".to_string()),
        ]
    );
    for own in [&api_ctx, &web_ctx] {
        assert!(
            load_balancer(clients, &Names::new(own).load_balancer)
                .await
                .is_none(),
            "no service has a load balancer of its own"
        );
    }
    let two = rules(clients, &shared.arn).await;
    let api_tg = api.physical_ids["target_group_arn"].clone();
    let web_tg = web.physical_ids["target_group_arn"].clone();
    assert_eq!(two[&api_tg].2, [HOST]);
    assert_eq!(two[&web_tg].2, ["www.company.com"]);
    assert_eq!(
        registered(clients, &names).await,
        std::slice::from_ref(&api_tg)
    );
    let held = listener_certificates(clients, &shared.arn).await;
    assert_eq!(held.len(), 2, "one certificate per service, SNI: {held:?}");
    for cert in [
        &api.physical_ids["certificate_arn"],
        &web.physical_ids["certificate_arn"],
    ] {
        assert!(held.contains(cert), "{cert} served: {held:?}");
    }
    let aliases: Vec<_> = records(clients, &zone)
        .await
        .into_iter()
        .filter(|(_, kind, _)| kind == "A")
        .collect();
    assert_eq!(
        aliases,
        [
            (HOST.to_string(), "A".to_string(), shared.dns.clone()),
            (
                "www.company.com".to_string(),
                "A".to_string(),
                shared.dns.clone()
            ),
        ]
    );

    // ---- a third service leaves the first two rules as they were
    let admin = create(&r, &admin_ctx, &["admin.company.com"]).await;
    let three = rules(clients, &shared.arn).await;
    assert_eq!(three.len(), 3);
    assert_eq!(three[&api_tg], two[&api_tg], "same rule, same priority");
    assert_eq!(three[&web_tg], two[&web_tg]);
    // Applying again changes no rule either.
    create(&r, &api_ctx, &[HOST]).await;
    assert_eq!(rules(clients, &shared.arn).await, three);

    // ---- the service whose certificate is the listener's default leaves: another one
    // becomes the default, and its rule and name go
    let default = listener_certificates(clients, &shared.arn).await[0].clone();
    let (first, first_observed, rest) = if default == api.physical_ids["certificate_arn"] {
        (&api_ctx, &api, vec![(&web_ctx, &web), (&admin_ctx, &admin)])
    } else if default == web.physical_ids["certificate_arn"] {
        (&web_ctx, &web, vec![(&api_ctx, &api), (&admin_ctx, &admin)])
    } else {
        (&admin_ctx, &admin, vec![(&api_ctx, &api), (&web_ctx, &web)])
    };
    r.delete(
        first,
        &first_observed.physical_ids,
        DeleteOptions::default(),
    )
    .await
    .expect("delete one");
    let left = rules(clients, &shared.arn).await;
    assert_eq!(left.len(), 2);
    assert!(!left.contains_key(&first_observed.physical_ids["target_group_arn"]));
    let held = listener_certificates(clients, &shared.arn).await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        !held.contains(&default),
        "its certificate left the listener"
    );
    for (ctx, observed) in &rest {
        assert!(held.contains(&observed.physical_ids["certificate_arn"]));
        assert!(
            r.read(ctx, &observed.physical_ids)
                .await
                .expect("read")
                .is_some_and(
                    |o| o.fields["https"]["certificate"] == observed.fields["https"]["certificate"]
                ),
            "the others still read back their own certificate"
        );
    }
    let first_host = first_observed.outputs["url"].trim_start_matches("https://");
    assert!(
        !records(clients, &zone)
            .await
            .iter()
            .any(|(name, _, _)| name == first_host),
        "its name is gone"
    );

    // ---- the last one out takes the load balancer, its listeners and its group
    for (ctx, observed) in rest {
        r.delete(ctx, &observed.physical_ids, DeleteOptions::default())
            .await
            .expect("delete");
    }
    assert!(
        load_balancer(clients, &names.shared_load_balancer)
            .await
            .is_none()
    );
    assert!(
        security_group_named(clients, &names.shared_security_group)
            .await
            .is_none()
    );
    assert_eq!(records(clients, &zone).await, [], "the zone is as it was");
}

/// After every step a change reports (and before it), checks that the service is served:
/// a listener forwards to a target group the ECS service registers with, and every name
/// in the zone points at a load balancer that forwards to one of them.
struct ServedAtEveryStep {
    clients: AwsClients,
    names: Names,
    zone: String,
    checks: Mutex<Vec<Result<String, String>>>,
}

impl EventSink for ServedAtEveryStep {
    fn emit(&self, event: Event) {
        let Event::Step { step, state, .. } = event else {
            return;
        };
        let result = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(served(
                &self.clients,
                &self.names,
                &self.zone,
            ))
        });
        let seen = format!("{step} ({state:?})");
        if let Ok(mut checks) = self.checks.lock() {
            checks.push(
                result
                    .map(|()| seen.clone())
                    .map_err(|e| format!("{seen}: {e}")),
            );
        }
    }
}

async fn served(clients: &AwsClients, names: &Names, zone: &str) -> Result<(), String> {
    let registered = registered(clients, names).await;
    if registered.is_empty() {
        return Err("the service registers with no target group".into());
    }
    let elb = &clients.elasticloadbalancingv2;
    let balancers = elb
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut forwards: Vec<(String, Vec<String>)> = Vec::new();
    for lb in balancers.load_balancers() {
        let mut groups = Vec::new();
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for listener in listeners.listeners() {
            let rules = elb
                .describe_rules()
                .listener_arn(listener.listener_arn().unwrap_or_default())
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            groups.extend(
                rules
                    .rules()
                    .iter()
                    .flat_map(|r| r.actions())
                    .filter_map(|a| a.target_group_arn().map(str::to_string)),
            );
        }
        forwards.push((lb.dns_name().unwrap_or_default().to_string(), groups));
    }
    let reaches = |groups: &[String]| groups.iter().any(|g| registered.contains(g));
    if !forwards.iter().any(|(_, groups)| reaches(groups)) {
        return Err(format!("no listener forwards to {registered:?}"));
    }
    for (host, kind, target) in records(clients, zone).await {
        if kind != "A" {
            continue;
        }
        match forwards.iter().find(|(dns, _)| *dns == target) {
            Some((_, groups)) if reaches(groups) => {}
            Some(_) => {
                return Err(format!(
                    "{host} points at a load balancer without the service"
                ));
            }
            None => return Err(format!("{host} points at {target}, which is gone")),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_moves_onto_the_shared_load_balancer_and_back_always_served() {
    // The move waits for ECS to settle: moto reports the walkthrough's two tasks running.
    let moto = MotoServer::start_with_env(&[
        ("MOTO_ACM_VALIDATION_WAIT", "1"),
        ("MOTO_ECS_SERVICE_RUNNING", "2"),
    ]);
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let zone = create_zone(clients).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");
    let checker = Arc::new(ServedAtEveryStep {
        clients: clients.clone(),
        names: names.clone(),
        zone: zone.clone(),
        checks: Mutex::default(),
    });
    let sink: Arc<dyn EventSink> = checker.clone();

    // Today's layout without a domain: the service's own load balancer, plain HTTP.
    let before = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert!(before.outputs["url"].starts_with("http://"));
    let own_tg = before.physical_ids["target_group_arn"].clone();
    assert!(served(clients, &names, &zone).await.is_ok());

    // The environment gains a domain: the service moves onto the shared load balancer.
    let domain_ctx = on_domain(None);
    let planned = r.normalise(&domain_ctx, &wrap(&spec), &inputs());
    let moved = panka_core::progress::scope(
        domain_ctx.id.clone(),
        Action::Update,
        sink.clone(),
        r.update(&domain_ctx, &wrap(&spec), &inputs()),
    )
    .await
    .expect("move onto the shared load balancer");
    assert_eq!(moved.fields, planned, "reading back shows no change");
    let host = panka_core::model::service_hosts(&domain_ctx, &spec)
        .pop()
        .expect("a default host");
    assert_eq!(moved.outputs["url"], format!("https://{host}"));
    let shared = load_balancer(clients, &names.shared_load_balancer)
        .await
        .expect("the shared ALB");
    let (_, _, hosts) = https_route(clients, &shared.arn).await;
    assert_eq!(hosts, std::slice::from_ref(&host));
    assert!(
        load_balancer(clients, &names.load_balancer).await.is_none(),
        "its own load balancer is gone once the names moved"
    );
    assert!(
        security_group_named(clients, &names.alb_security_group)
            .await
            .is_none()
    );
    let https_tg = moved.physical_ids["target_group_arn"].clone();
    assert_ne!(https_tg, own_tg);
    assert_eq!(
        registered(clients, &names).await,
        std::slice::from_ref(&https_tg)
    );
    let steps = checker.checks.lock().expect("checks").clone();
    assert!(
        steps.iter().any(|s| s
            .as_ref()
            .is_ok_and(|s| s.starts_with("Registering the tasks with both"))),
        "{steps:#?}"
    );
    let failed: Vec<_> = steps.iter().filter_map(|s| s.as_ref().err()).collect();
    assert!(failed.is_empty(), "unserved at: {failed:#?}");

    // And back off the domain: its own load balancer again, the shared one gone.
    checker.checks.lock().expect("checks").clear();
    let back = panka_core::progress::scope(
        ctx().id,
        Action::Update,
        sink,
        r.update(&ctx(), &wrap(&spec), &inputs()),
    )
    .await
    .expect("move back");
    assert!(
        back.outputs["url"].starts_with("http://"),
        "{:?}",
        back.outputs
    );
    assert_eq!(back.fields, r.normalise(&ctx(), &wrap(&spec), &inputs()));
    let own = load_balancer(clients, &names.load_balancer)
        .await
        .expect("its own ALB");
    assert_eq!(
        own.listeners,
        [("HTTP".to_string(), 80, "forward".to_string())]
    );
    assert!(
        load_balancer(clients, &names.shared_load_balancer)
            .await
            .is_none()
    );
    assert_eq!(records(clients, &zone).await, []);
    let steps = checker.checks.lock().expect("checks").clone();
    let failed: Vec<_> = steps.iter().filter_map(|s| s.as_ref().err()).collect();
    assert!(!steps.is_empty());
    assert!(failed.is_empty(), "unserved at: {failed:#?}");
}

#[tokio::test]
async fn a_load_balancer_panka_did_not_make_under_the_shared_name_stops_the_create() {
    let moto = moto();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    create_zone(clients).await;
    let ctx = on_domain(None);
    let names = Names::new(&ctx);
    let net = panka_providers::network::resolve(&clients.ec2, None)
        .await
        .expect("the default VPC");
    clients
        .elasticloadbalancingv2
        .create_load_balancer()
        .name(&names.shared_load_balancer)
        .set_subnets(Some(net.public_subnet_ids.clone()))
        .send()
        .await
        .expect("someone else's load balancer");

    let err = reconciler(clients)
        .create(&ctx, &wrap(&with_aliases(&[HOST])), &inputs())
        .await
        .expect_err("not panka's");
    assert_eq!(
        err.kind,
        panka_core::reconcile::ErrorKind::Foreign,
        "{err:?}"
    );
    assert!(
        err.message.contains(&names.shared_load_balancer),
        "{}",
        err.message
    );
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(&names.cluster)
        .send()
        .await
        .expect("describe clusters");
    assert!(clusters.clusters().is_empty(), "nothing was created");
}
