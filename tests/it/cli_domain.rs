//! The walkthrough on its domain, through the CLI on moto: `plan` shows the hosts, the
//! certificate and the records like any other field, `apply` reports
//! `api_url: https://dev-email-api.company.com`, and a zone that does not exist stops
//! `apply` at its `file:line:column` before anything changes.

use crate::support::cli::{panka_aws, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{DB_SECRET, MotoServer, create_secret};

const ENV_FILE: &str = "stacks/notification-platform/environments/development/environment.yaml";
const HOST: &str = "dev-email-api.company.com";

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: panka_providers::aws::AwsClients,
}

impl Env {
    /// The walkthrough with `domain: company.com` in development, and the seed's name
    /// for the api there.
    async fn new() -> Env {
        let env = Env::without_domain().await;
        env.add_domain();
        env
    }

    /// The walkthrough as it is, without a domain.
    async fn without_domain() -> Env {
        let moto = MotoServer::start_with_env(&[
            ("MOTO_ECS_SERVICE_RUNNING", "2"),
            ("MOTO_ACM_VALIDATION_WAIT", "1"),
        ]);
        let repo = walkthrough_repo();
        let clients = moto.clients().await;
        create_secret(&clients, DB_SECRET, r#"{"password":"pw-0123456789"}"#).await;
        Env {
            moto,
            repo,
            clients,
        }
    }

    fn add_domain(&self) {
        let env_file = self.repo.path().join(ENV_FILE);
        let mut text = std::fs::read_to_string(&env_file).expect("environment file");
        text.push_str(&format!(
            "  domain: company.com\n  overrides:\n    email-service/api:\n      spec: {{loadBalancer: {{alias: {HOST}}}}}\n"
        ));
        std::fs::write(&env_file, text).expect("write the environment file");
    }

    async fn create_zone(&self) {
        self.clients
            .route53
            .create_hosted_zone()
            .name("company.com")
            .caller_reference("cli-domain")
            .send()
            .await
            .expect("create the zone");
    }

    /// The names of the load balancers in the account.
    async fn load_balancers(&self) -> Vec<String> {
        let out = self
            .clients
            .elasticloadbalancingv2
            .describe_load_balancers()
            .send()
            .await
            .expect("describe load balancers");
        let mut names: Vec<String> = out
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.load_balancer_name().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// `args`, then the stack and environment.
    fn on_stack(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend([
            "--stack",
            "notification-platform",
            "--environment",
            "development",
        ]);
        let home = self.repo.path();
        panka_aws(home, home, &self.moto.endpoint())
            .args(&all)
            .output()
            .expect("run")
    }

    /// `args`, then the stack, environment and version.
    fn panka(&self, args: &[&str]) -> std::process::Output {
        let home = self.repo.path();
        let mut all = vec![
            "--stack",
            "notification-platform",
            "--environment",
            "development",
            "--var",
            "VERSION=v1.0.0",
        ];
        all.splice(0..0, args.iter().copied());
        panka_aws(home, home, &self.moto.endpoint())
            .args(&all)
            .output()
            .expect("run")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_answers_https_on_its_domain() {
    let env = Env::new().await;
    env.create_zone().await;

    let plan = env.panka(&["plan"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    let out = env.panka(&["apply", "--auto-approve"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for expected in [
        format!("api_url: https://{HOST}"),
        format!("Test: curl https://{HOST}/health"),
        "Validating certificate (DNS)".to_string(),
    ] {
        assert!(
            shown.contains(&expected),
            "missing `{expected}` in\n{shown}"
        );
    }

    // Read back, nothing to do: the HTTPS side compares equal to the spec.
    let again = env.panka(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    // Another name: the plan shows the hosts, certificate and records changing.
    let env_file = env.repo.path().join(ENV_FILE);
    let written = std::fs::read_to_string(&env_file).expect("environment file");
    std::fs::write(&env_file, written.replace(HOST, "api.company.com")).expect("rename");
    let renamed = env.panka(&["plan"]);
    let shown = text(&renamed);
    assert_eq!(renamed.status.code(), Some(0), "{shown}");
    for expected in [
        format!("https.hosts[0]: {HOST} → api.company.com"),
        format!(
            "https.certificate: ACM, DNS-validated: {HOST} → ACM, DNS-validated: api.company.com"
        ),
        format!("https.records[0]: {HOST} → api.company.com"),
    ] {
        assert!(
            shown.contains(&expected),
            "missing `{expected}` in\n{shown}"
        );
    }
    std::fs::write(&env_file, written).expect("restore");

    // A record changed by hand is drift, named by its field.
    let zone = env
        .clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name("company.com")
        .send()
        .await
        .expect("zones")
        .hosted_zones()[0]
        .id()
        .to_string();
    let record = env
        .clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name(HOST)
        .start_record_type(aws_sdk_route53::types::RrType::A)
        .max_items(1)
        .send()
        .await
        .expect("records")
        .resource_record_sets()[0]
        .clone();
    env.clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Delete)
                        .resource_record_set(record)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("delete the record");
    let drift = env.on_stack(&["drift"]);
    let shown = text(&drift);
    assert_ne!(drift.status.code(), Some(0), "{shown}");
    assert!(shown.contains("https.records"), "{shown}");
    assert!(
        !shown.contains("Orphans"),
        "the shared load balancer, its group and the service's certificate are known to state:\n{shown}"
    );

    // destroy takes the names, the listeners and the certificate away.
    let out = env.on_stack(&["destroy", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = env
        .clients
        .acm
        .list_certificates()
        .send()
        .await
        .expect("certificates");
    assert!(listed.certificate_summary_list().is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_zone_stops_apply_before_anything_changes() {
    let env = Env::new().await;
    let out = env.panka(&["apply", "--auto-approve"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let line = std::fs::read_to_string(env.repo.path().join(ENV_FILE))
        .expect("environment file")
        .lines()
        .position(|l| l.trim_start().starts_with("domain:"))
        .expect("a domain line")
        + 1;
    let expected = format!(
        "{ENV_FILE}:{line}:11: no Route 53 hosted zone is named `company.com` in this account"
    );
    assert!(
        shown.contains(&expected),
        "missing `{expected}` in\n{shown}"
    );
    assert!(shown.contains("nothing was changed"), "{shown}");
    let queues = env.clients.sqs.list_queues().send().await.expect("queues");
    assert!(queues.queue_urls().is_empty(), "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_moves_onto_the_shared_load_balancer_when_its_environment_gains_a_domain() {
    let env = Env::without_domain().await;
    env.create_zone().await;
    let out = env.panka(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shared = panka_core::naming::shared_load_balancer("notification-platform", "development");
    let own = env.load_balancers().await;
    assert_eq!(own.len(), 1, "today's layout: the api's own load balancer");
    assert_ne!(own[0], shared);

    env.add_domain();
    let plan = env.panka(&["plan"]);
    let shown = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("shared by the environment"),
        "the plan shows the move:\n{shown}"
    );

    let out = env.panka(&["apply", "--auto-approve"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for expected in [
        format!("api_url: https://{HOST}"),
        "Registering the tasks with both load balancers".to_string(),
        "Removing the service's own load balancer".to_string(),
    ] {
        assert!(
            shown.contains(&expected),
            "missing `{expected}` in\n{shown}"
        );
    }
    assert_eq!(
        env.load_balancers().await,
        [shared],
        "only the shared one is left"
    );
    let again = env.panka(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    let out = env.on_stack(&["destroy", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.load_balancers().await, Vec::<String>::new());
}
