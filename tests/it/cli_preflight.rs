//! Apply's secrets preflight on moto: before any change, every secret the changing
//! components refer to must exist and hold the key it is used with; otherwise apply exits
//! 1 naming each reference at its `file:line:column`, creates nothing, writes no state
//! and releases the lock.

use crate::support::cli::{panka_aws, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{DB_SECRET as SECRET, MotoServer, create_secret};
use serde_json::Value;

const API_FILE: &str =
    "stacks/notification-platform/services/email-service/components/api/microservice.yaml";
const DB_FILE: &str =
    "stacks/notification-platform/services/email-service/components/database/rds.yaml";

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: panka_providers::aws::AwsClients,
}

impl Env {
    async fn new() -> Env {
        // ECS services report running tasks, so a whole apply can finish.
        let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
        let repo = walkthrough_repo();
        let clients = moto.clients().await;
        Env {
            moto,
            repo,
            clients,
        }
    }

    fn panka(&self, args: &[&str]) -> std::process::Output {
        let home = self.repo.path();
        panka_aws(home, home, &self.moto.endpoint())
            .args(args)
            .output()
            .expect("run")
    }

    fn apply(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "apply",
            "--stack",
            "notification-platform",
            "--auto-approve",
            "--var",
            "VERSION=v1.0.0",
        ];
        args.extend_from_slice(extra);
        self.panka(&args)
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.repo
            .path()
            .join(".panka/stacks/notification-platform/development")
    }

    /// Nothing in AWS, no state, no deployment record, the lock free.
    async fn assert_untouched(&self) {
        let queues = self.clients.sqs.list_queues().send().await.expect("queues");
        assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
        let dbs = self
            .clients
            .rds
            .describe_db_instances()
            .send()
            .await
            .expect("instances");
        assert!(dbs.db_instances().is_empty(), "no database was created");
        assert!(!self.state_dir().join("state.json").exists(), "no state");
        assert!(
            !self.state_dir().join("deployments").exists(),
            "no deployment record"
        );
        let status = self.panka(&["lock", "status", "--stack", "notification-platform"]);
        assert!(
            text(&status).contains("Not locked"),
            "the lock was released: {}",
            text(&status)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stops_apply_before_anything_changes() {
    let env = Env::new().await;
    let out = env.apply(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    // Both places that use it, each with its position, the component and the secret.
    for expected in [
        "error: 2 secret references cannot be used; nothing was changed".to_string(),
        format!("{API_FILE}:34:18: secret `{SECRET}` used by email-service/api does not exist"),
        format!("{DB_FILE}:24:12: secret `{SECRET}` used by email-service/database does not exist"),
        format!("hint: create it (`aws secretsmanager create-secret --name {SECRET}"),
    ] {
        assert!(
            shown.contains(&expected),
            "missing `{expected}` in\n{shown}"
        );
    }
    assert!(!shown.contains("Executing deployment"), "{shown}");
    env.assert_untouched().await;

    // The same in JSON: one error document on stdout.
    let out = env.apply(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("{API_FILE}:34:18")), "{message}");
    env.assert_untouched().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_secret_without_its_key_stops_apply_and_never_shows_the_value() {
    let env = Env::new().await;
    let value = "canary-Preflight-5150";
    create_secret(&env.clients, SECRET, &format!(r#"{{"pass":"{value}"}}"#)).await;
    let out = env.apply(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "{DB_FILE}:24:12: secret `{SECRET}` used by email-service/database lacks the key it is used with (secret `{SECRET}` has no key `password`; its keys are: pass; name one with `key:`)"
        )),
        "{shown}"
    );
    // The api reads the key the database reads (the secret key rule), so it is reported
    // too, saying where the unwritten key comes from.
    assert!(
        shown.contains(&format!(
            "{API_FILE}:34:18: secret `{SECRET}` used by email-service/api lacks the key it is used with (no key `password`; its keys are: pass (`key: password` was not written: it is the key the database this component depends on reads from the same secret))"
        )),
        "{shown}"
    );
    assert!(!shown.contains(value), "the value never shows: {shown}");
    env.assert_untouched().await;

    // Fixed: a targeted apply of the database passes the preflight and creates only it.
    env.clients
        .secretsmanager
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(format!(r#"{{"password":"{value}"}}"#))
        .send()
        .await
        .expect("fix");
    let out = env.apply(&["--target", "email-service/database", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(value), "{}", text(&out));
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.state_dir().join("state.json")).expect("state"),
    )
    .expect("json");
    let recorded: Vec<&String> = state["components"]
        .as_object()
        .expect("components")
        .keys()
        .collect();
    assert_eq!(recorded, ["email-service/database"]);
}

/// The secret key rule, as ECS would see it: after applying the walkthrough's stack, the
/// value ECS injects for `DATABASE_PASSWORD` (the task definition's `valueFrom`, resolved
/// with GetSecretValue and its JSON key) is the password the database was created with
/// (the key RDS reads from the same secret). A key-less reference to another JSON secret
/// gets a warning with the key to add, and no value is ever shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_gets_the_database_password_and_other_json_secrets_warn() {
    let env = Env::new().await;
    let password = "canary-KeyRule-2718";
    let token = "canary-SmtpToken-1414";
    let other = "/stacks/notification-platform/email-service/smtp";
    for (name, value) in [
        (SECRET, format!(r#"{{"password":"{password}"}}"#)),
        (other, format!(r#"{{"user":"mailer","token":"{token}"}}"#)),
    ] {
        create_secret(&env.clients, name, &value).await;
    }
    let api_file = env.repo.path().join(API_FILE);
    let yaml = std::fs::read_to_string(&api_file).expect("api file");
    let written = "      envVar: DATABASE_PASSWORD\n";
    assert!(yaml.contains(written), "the fixture changed: {yaml}");
    std::fs::write(
        &api_file,
        yaml.replacen(
            written,
            &format!("{written}    - name: SMTP\n      secretRef: {other}\n"),
            1,
        ),
    )
    .expect("write");

    let out = env.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    for expected in [
        format!(
            "warning: {API_FILE}:37:18: secret `{other}` used by email-service/api is a JSON object and has no `key`, so the whole JSON document is injected"
        ),
        "hint: add `key: token` under this reference to inject one value (its keys are: token, user)".to_string(),
    ] {
        assert!(shown.contains(&expected), "missing `{expected}` in\n{shown}");
    }
    assert_eq!(
        shown.matches("warning: ").count(),
        1,
        "the database's secret gets no warning: {shown}"
    );
    for value in [password, token] {
        assert!(!shown.contains(value), "a value was shown: {shown}");
    }

    // The task definition as ECS reads it.
    let family = env
        .clients
        .ecs
        .list_task_definitions()
        .send()
        .await
        .expect("task definitions");
    let arn = family
        .task_definition_arns()
        .last()
        .expect("a task definition");
    let td = env
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .expect("describe");
    let secrets: Vec<(String, String)> = td
        .task_definition()
        .expect("td")
        .container_definitions()
        .iter()
        .flat_map(|c| c.secrets())
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    let value_from = |name: &str| {
        secrets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no secret {name} in {secrets:?}"))
    };
    let injected = ecs_value(&env.clients, &value_from("DATABASE_PASSWORD")).await;
    let rds_reads =
        panka_providers::secrets::read_password(&env.clients.secretsmanager, SECRET, None)
            .await
            .expect("the database's password");
    assert_eq!(injected, rds_reads.expose());
    assert_eq!(injected, password);
    // The other secret stays whole, as written (the warning said so).
    assert!(
        !value_from("SMTP").ends_with("::"),
        "{:?}",
        value_from("SMTP")
    );
}

/// What ECS injects for a task definition secret: the whole secret string for an ARN,
/// or one JSON key for `<arn>:<key>::` (empty version stage and id: the current one).
async fn ecs_value(clients: &panka_providers::aws::AwsClients, value_from: &str) -> String {
    let (secret, key) = match value_from.strip_suffix("::") {
        Some(rest) => {
            let (arn, key) = rest.rsplit_once(':').expect("arn:key");
            (arn, Some(key))
        }
        None => (value_from, None),
    };
    let text = clients
        .secretsmanager
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .expect("get secret value")
        .secret_string()
        .expect("string")
        .to_string();
    match key {
        None => text,
        Some(key) => {
            let doc: Value = serde_json::from_str(&text).expect("json secret");
            doc[key].as_str().expect("string key").to_string()
        }
    }
}
