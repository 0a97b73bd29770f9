//! Network resolution and least-privilege security groups, on moto.

mod support;

use panka_core::model::{ComponentId, Network};
use panka_core::reconcile::{ErrorKind, ResourceContext};
use panka_providers::network::{self, IngressRule, Source};
use std::time::Duration;
use support::moto::MotoServer;

fn ctx(component: &str) -> ResourceContext {
    ResourceContext {
        stack: "shop".into(),
        environment: "development".into(),
        id: ComponentId::new("web", component),
        region: "us-east-1".into(),
        production: false,
        network: None,
    }
}

#[tokio::test]
async fn default_vpc_and_explicit_networks_resolve_or_explain() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let ec2 = &account.clients.ec2;
    let default = network::resolve(ec2, None).await.expect("default VPC");
    assert!(default.vpc_id.starts_with("vpc-"));
    assert!(default.subnet_ids.len() >= 2, "{default:?}");

    let explicit = Network {
        vpc_id: default.vpc_id.clone(),
        subnets: default.subnet_ids[..2].to_vec(),
    };
    let resolved = network::resolve(ec2, Some(&explicit))
        .await
        .expect("explicit");
    assert_eq!(resolved.subnet_ids, explicit.subnets);

    let other_vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .expect("vpc id");
    let wrong = Network {
        vpc_id: other_vpc,
        subnets: default.subnet_ids[..2].to_vec(),
    };
    let err = network::resolve(ec2, Some(&wrong))
        .await
        .expect_err("subnets of another VPC");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("not in the environment's VPC"),
        "{err}"
    );

    let missing = Network {
        vpc_id: default.vpc_id.clone(),
        subnets: vec![
            "subnet-00000000000000000".into(),
            "subnet-00000000000000001".into(),
        ],
    };
    let err = network::resolve(ec2, Some(&missing))
        .await
        .expect_err("unknown subnets");
    assert!(err.message.contains("subnet-00000000000000000"), "{err}");
}

#[tokio::test]
async fn security_groups_converge_to_exactly_the_wanted_rules() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let ec2 = &account.clients.ec2;
    let vpc = network::resolve(ec2, None).await.expect("vpc").vpc_id;
    let c = ctx("api");

    let alb = network::ensure_security_group(
        ec2,
        &c,
        &vpc,
        "shop-dev-web-api-alb",
        "ALB",
        &[IngressRule {
            port: 80,
            source: Source::Cidr("0.0.0.0/0".into()),
        }],
    )
    .await
    .expect("alb sg");
    let wanted = [IngressRule {
        port: 8080,
        source: Source::Group(alb.clone()),
    }];
    let svc =
        network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
            .await
            .expect("svc sg");
    let again =
        network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
            .await
            .expect("idempotent");
    assert_eq!(svc, again, "the same group is adopted, not duplicated");

    // A rule added by hand is removed; the wanted one stays.
    ec2.authorize_security_group_ingress()
        .group_id(&svc)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .expect("out-of-band rule");
    network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
        .await
        .expect("converge");
    let found = network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.ingress, wanted.to_vec());
    assert_eq!(
        found.tags.get("panka:component").map(String::as_str),
        Some("web/api")
    );

    // Another component's group of that name is refused and left alone.
    let err = network::ensure_security_group(
        ec2,
        &ctx("worker"),
        &vpc,
        "shop-dev-web-api-svc",
        "service",
        &[],
    )
    .await
    .expect_err("foreign");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(err.message.contains("web/api"), "{err}");
    let still = network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(still.ingress, wanted.to_vec());

    network::delete_security_group(ec2, &vpc, "shop-dev-web-api-svc", Duration::from_secs(5))
        .await
        .expect("delete");
    network::delete_security_group(ec2, &vpc, "shop-dev-web-api-svc", Duration::from_secs(5))
        .await
        .expect("deleting again is fine");
    assert!(
        network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
            .await
            .expect("find")
            .is_none()
    );
}
