//! A MicroService on its environment's domain, end to end on a local `moto_server`
//! (ACM issues after `MOTO_ACM_VALIDATION_WAIT` seconds): the certificate validated
//! through the zone and waited for, the HTTPS listener with its host rule, plain HTTP
//! redirected, alias records; hosts changed, a record taken by someone else, a
//! certificate the team brings, and delete. Services of one environment share one load
//! balancer (`e2e_shared_lb` moves a service onto it and back).

use crate::e2e_microservice::{api, create_secret, ctx, ingress, inputs, reconciler, wrap};
use crate::support::moto::MotoServer;
use aws_sdk_acm::types::CertificateStatus;
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, Listener, ProtocolEnum, Rule};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use panka_core::drift::Owner;
use panka_core::model::{Domain, MicroServiceSpec};
use panka_core::reconcile::{DeleteOptions, ErrorKind, Reconciler, ResourceContext};
use panka_providers::aws::AwsClients;
use panka_providers::microservice::names::Names;

pub(crate) const DOMAIN: &str = "company.com";
pub(crate) const HOST: &str = "dev-email-api.company.com";

pub(crate) fn on_domain(certificate_arn: Option<&str>) -> ResourceContext {
    ResourceContext {
        domain: Some(Domain {
            name: DOMAIN.into(),
            hosted_zone_id: None,
            certificate_arn: certificate_arn.map(str::to_string),
            at: Default::default(),
        }),
        ..ctx()
    }
}

pub(crate) fn with_aliases(aliases: &[&str]) -> MicroServiceSpec {
    let mut spec = api("v1.0.0");
    spec.load_balancer.aliases = aliases.iter().map(|a| a.to_string()).collect();
    spec
}

pub(crate) fn moto() -> MotoServer {
    MotoServer::start_with_env(&[("MOTO_ACM_VALIDATION_WAIT", "1")])
}

pub(crate) async fn create_zone(clients: &AwsClients) -> String {
    let out = clients
        .route53
        .create_hosted_zone()
        .name(DOMAIN)
        .caller_reference("e2e-https")
        .send()
        .await
        .expect("create the hosted zone");
    out.hosted_zone()
        .expect("a zone")
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string()
}

/// Every record of the zone but its NS and SOA: (name without the dot, type, target).
pub(crate) async fn records(clients: &AwsClients, zone: &str) -> Vec<(String, String, String)> {
    let out = clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list records");
    let mut found: Vec<_> = out
        .resource_record_sets()
        .iter()
        .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
        .map(|r| {
            let target = match r.alias_target() {
                Some(alias) => alias.dns_name().trim_end_matches('.').to_string(),
                None => r
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            (
                r.name().trim_end_matches('.').to_string(),
                r.r#type().as_str().to_string(),
                target,
            )
        })
        .collect();
    found.sort();
    found
}

async fn plant_record(clients: &AwsClients, zone: &str, host: &str, address: &str) {
    let record = ResourceRecordSet::builder()
        .name(host)
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value(address)
                .build()
                .expect("rr"),
        )
        .build()
        .expect("record");
    clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(record)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("plant a record");
}

/// The load balancer `name`: its DNS name, ARN, listeners as (protocol, port, default
/// action) and security group.
pub(crate) async fn load_balancer(clients: &AwsClients, name: &str) -> Option<LoadBalancer> {
    let out = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .ok()?;
    let lb = out.load_balancers().first()?;
    let arn = lb.load_balancer_arn()?.to_string();
    let mut found: Vec<_> = listeners(clients, &arn)
        .await
        .iter()
        .map(|l| {
            (
                l.protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                l.port().unwrap_or_default(),
                l.default_actions()
                    .first()
                    .and_then(|a| a.r#type())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    Some(LoadBalancer {
        dns: lb.dns_name()?.to_string(),
        arn,
        listeners: found,
        security_group: lb.security_groups().first()?.to_string(),
    })
}

pub(crate) struct LoadBalancer {
    pub dns: String,
    pub arn: String,
    pub listeners: Vec<(String, i32, String)>,
    pub security_group: String,
}

/// The listeners of the load balancer `lb_arn`.
pub(crate) async fn listeners(clients: &AwsClients, lb_arn: &str) -> Vec<Listener> {
    clients
        .elasticloadbalancingv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .expect("listeners")
        .listeners()
        .to_vec()
}

/// The load balancer's HTTPS listener.
pub(crate) async fn https_listener(clients: &AwsClients, lb_arn: &str) -> Listener {
    listeners(clients, lb_arn)
        .await
        .into_iter()
        .find(|l| l.protocol() == Some(&ProtocolEnum::Https))
        .expect("an HTTPS listener")
}

/// The rules of a listener but its default one.
pub(crate) async fn host_rules(clients: &AwsClients, listener_arn: &str) -> Vec<Rule> {
    clients
        .elasticloadbalancingv2
        .describe_rules()
        .listener_arn(listener_arn)
        .send()
        .await
        .expect("rules")
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .cloned()
        .collect()
}

/// The HTTPS listener's certificate and the hosts its rule forwards to the target group.
pub(crate) async fn https_route(
    clients: &AwsClients,
    lb_arn: &str,
) -> (String, Option<String>, Vec<String>) {
    let https = https_listener(clients, lb_arn).await;
    let certificate = https.certificates()[0]
        .certificate_arn()
        .expect("a certificate")
        .to_string();
    let mut hosts = Vec::new();
    for rule in host_rules(clients, https.listener_arn().expect("arn")).await {
        assert_eq!(
            rule.actions()[0].r#type(),
            Some(&ActionTypeEnum::Forward),
            "a host rule forwards"
        );
        for condition in rule.conditions() {
            hosts.extend(
                condition
                    .host_header_config()
                    .map(|h| h.values().to_vec())
                    .unwrap_or_default(),
            );
        }
    }
    (certificate, https.ssl_policy().map(str::to_string), hosts)
}

pub(crate) async fn security_group_named(clients: &AwsClients, name: &str) -> Option<String> {
    let vpc = panka_providers::network::resolve(&clients.ec2, None)
        .await
        .expect("the default VPC")
        .vpc_id;
    panka_providers::network::find_security_group(&clients.ec2, &vpc, name)
        .await
        .expect("look up the group")
        .map(|g| g.id)
}

pub(crate) async fn certificate(
    clients: &AwsClients,
    arn: &str,
) -> Option<(CertificateStatus, Vec<String>)> {
    let out = clients
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .ok()?;
    let detail = out.certificate()?;
    let mut names = detail.subject_alternative_names().to_vec();
    names.extend(detail.domain_name().map(str::to_string));
    names.sort();
    names.dedup();
    Some((detail.status()?.clone(), names))
}

#[tokio::test]
async fn a_service_on_the_domain_answers_https_on_its_names() {
    let moto = moto();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let zone = create_zone(clients).await;
    let r = reconciler(clients);
    let ctx = on_domain(None);
    let names = Names::new(&ctx);
    let spec = with_aliases(&[HOST]);

    // ---- create: certificate issued, HTTPS routed, HTTP redirected, name pointed
    let created = r
        .create(&ctx, &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert_eq!(created.outputs["url"], format!("https://{HOST}"));
    assert_eq!(
        created.fields,
        r.normalise(&ctx, &wrap(&spec), &inputs()),
        "reading back shows no change"
    );
    assert_eq!(created.fields["https"]["hosts"], serde_json::json!([HOST]));
    let LoadBalancer {
        dns,
        arn: lb_arn,
        listeners,
        security_group: alb_group,
    } = load_balancer(clients, &names.shared_load_balancer)
        .await
        .expect("the shared ALB");
    assert_eq!(
        listeners,
        [
            ("HTTP".to_string(), 80, "redirect".to_string()),
            ("HTTPS".to_string(), 443, "fixed-response".to_string()),
        ]
    );
    let (cert_arn, policy, hosts) = https_route(clients, &lb_arn).await;
    assert_eq!(hosts, [HOST]);
    assert_eq!(
        policy.as_deref(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        certificate(clients, &cert_arn).await,
        Some((CertificateStatus::Issued, vec![HOST.to_string()]))
    );
    assert_eq!(created.physical_ids["certificate_arn"], cert_arn);
    let zone_records = records(clients, &zone).await;
    assert!(
        zone_records.contains(&(HOST.to_string(), "A".to_string(), dns.clone())),
        "{zone_records:?}"
    );
    assert!(
        zone_records
            .iter()
            .any(|(name, kind, _)| kind == "CNAME" && name.ends_with(&format!(".{HOST}"))),
        "the validation record stays for renewals: {zone_records:?}"
    );
    let mut open = ingress(clients, &alb_group).await;
    open.sort();
    assert_eq!(
        open,
        [
            (80, "0.0.0.0/0".to_string()),
            (443, "0.0.0.0/0".to_string())
        ]
    );

    // ---- a second name: a certificate for both, the old one deleted, both pointed
    let both = with_aliases(&[HOST, "api.company.com"]);
    let updated = r
        .update(&ctx, &wrap(&both), &inputs())
        .await
        .expect("add a host");
    assert_eq!(updated.fields, r.normalise(&ctx, &wrap(&both), &inputs()));
    assert_eq!(
        updated.outputs["url"],
        format!("https://{HOST}"),
        "the first alias"
    );
    let (second_cert, _, hosts) = https_route(clients, &lb_arn).await;
    assert_eq!(hosts, [HOST, "api.company.com"]);
    assert_ne!(second_cert, cert_arn);
    assert_eq!(
        certificate(clients, &second_cert).await.map(|c| c.1),
        Some(vec!["api.company.com".to_string(), HOST.to_string()])
    );
    assert_eq!(
        certificate(clients, &cert_arn).await,
        None,
        "the unused one is deleted"
    );

    // ---- back to one name: the dropped name's record goes, the rest stays
    let only_api = with_aliases(&["api.company.com"]);
    let updated = r
        .update(&ctx, &wrap(&only_api), &inputs())
        .await
        .expect("drop a host");
    assert_eq!(updated.outputs["url"], "https://api.company.com");
    let zone_records = records(clients, &zone).await;
    let aliases: Vec<_> = zone_records
        .iter()
        .filter(|(_, kind, _)| kind == "A")
        .map(|(name, _, target)| (name.as_str(), target.as_str()))
        .collect();
    assert_eq!(aliases, [("api.company.com", dns.as_str())]);

    // ---- drift: the record deleted behind panka's back shows
    clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(
                            clients
                                .route53
                                .list_resource_record_sets()
                                .hosted_zone_id(&zone)
                                .start_record_name("api.company.com")
                                .start_record_type(RrType::A)
                                .max_items(1)
                                .send()
                                .await
                                .expect("read")
                                .resource_record_sets()[0]
                                .clone(),
                        )
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("delete the record by hand");
    let drifted = r
        .read(&ctx, &updated.physical_ids)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(drifted.fields["https"]["records"], serde_json::json!([]));
    assert_eq!(
        drifted.fields["https"]["hosts"],
        serde_json::json!(["api.company.com"])
    );

    // ---- orphans: the certificate is listed as the component's
    let owner = Owner {
        stack: ctx.stack.clone(),
        environment: ctx.environment.clone(),
    };
    let tagged = r.tagged(&owner).await.expect("tagged");
    let last_cert = updated.physical_ids["certificate_arn"].clone();
    assert!(
        tagged
            .iter()
            .any(|t| t.kind == "acm_certificate" && t.id == last_cert),
        "{tagged:?}"
    );

    // ---- delete: records, listeners, certificate and its validation records go
    r.delete(&ctx, &updated.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert!(
        load_balancer(clients, &names.shared_load_balancer)
            .await
            .is_none(),
        "the last service takes the shared load balancer with it"
    );
    assert!(
        security_group_named(clients, &names.shared_security_group)
            .await
            .is_none(),
        "and its security group"
    );
    assert_eq!(certificate(clients, &last_cert).await, None);
    assert_eq!(records(clients, &zone).await, [], "the zone is as it was");
}

#[tokio::test]
async fn a_name_someone_else_holds_stops_the_create_untouched() {
    let moto = moto();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let zone = create_zone(clients).await;
    plant_record(clients, &zone, HOST, "192.0.2.10").await;
    let r = reconciler(clients);
    let ctx = on_domain(None);

    let err = r
        .create(&ctx, &wrap(&with_aliases(&[HOST])), &inputs())
        .await
        .expect_err("the name is taken");
    assert_eq!(err.kind, ErrorKind::Foreign, "{err:?}");
    assert!(
        err.message.contains(HOST) && err.message.contains("192.0.2.10"),
        "{}",
        err.message
    );
    assert!(
        load_balancer(clients, &Names::new(&ctx).shared_load_balancer)
            .await
            .is_none(),
        "nothing created"
    );
    assert_eq!(
        records(clients, &zone).await,
        [(HOST.to_string(), "A".to_string(), "192.0.2.10".to_string())],
        "the record is untouched"
    );
    let listed = clients
        .acm
        .list_certificates()
        .send()
        .await
        .expect("list certificates");
    assert!(
        listed.certificate_summary_list().is_empty(),
        "no certificate requested"
    );

    // A zone that does not exist stops it the same way.
    let elsewhere = ResourceContext {
        domain: Some(Domain {
            name: "nowhere.example".into(),
            hosted_zone_id: None,
            certificate_arn: None,
            at: Default::default(),
        }),
        ..ctx.clone()
    };
    let err = r
        .create(
            &elsewhere,
            &wrap(&with_aliases(&["api.nowhere.example"])),
            &inputs(),
        )
        .await
        .expect_err("no such zone");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert!(err.message.contains("nowhere.example"), "{}", err.message);
}

#[tokio::test]
async fn a_certificate_the_team_brings_is_used_and_kept() {
    let moto = moto();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    create_zone(clients).await;
    let theirs = clients
        .acm
        .request_certificate()
        .domain_name("*.company.com")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .expect("the team's certificate")
        .certificate_arn()
        .expect("arn")
        .to_string();
    let r = reconciler(clients);
    let ctx = on_domain(Some(&theirs));
    let spec = with_aliases(&[HOST]);

    let created = r
        .create(&ctx, &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert_eq!(created.fields["https"]["certificate"], theirs.as_str());
    assert_eq!(created.fields, r.normalise(&ctx, &wrap(&spec), &inputs()));
    assert!(!created.physical_ids.contains_key("certificate_arn"));
    let names = Names::new(&ctx);
    let shared = load_balancer(clients, &names.shared_load_balancer)
        .await
        .expect("the shared ALB");
    assert_eq!(https_route(clients, &shared.arn).await.0, theirs);
    let listed = clients.acm.list_certificates().send().await.expect("list");
    assert_eq!(listed.certificate_summary_list().len(), 1, "none requested");

    r.delete(&ctx, &created.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert!(
        certificate(clients, &theirs).await.is_some(),
        "the team's certificate stays"
    );
}
