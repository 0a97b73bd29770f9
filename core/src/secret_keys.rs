//! The secret key rule: a MicroService secret written without `key` that refers to the
//! secret a database it depends on uses as its master password selects the key that
//! database reads.
//!
//! Why: a database secret is usually the JSON document `{"password": "…"}`. RDS reads
//! one key of it (`passwordSecret.key`, default `password`), while ECS injects a key-less
//! reference whole, so the application would receive the JSON document instead of the
//! password it needs to log in. Filling the key here, offline and from the specs alone,
//! makes both read the same value; no secret value is read to decide it.
//!
//! Scope: only the databases the MicroService references (`dependsOn` or `valueFrom`),
//! because that reference is what says the service uses that database. A reference to a
//! secret no dependency uses for its password is left as written (apply's preflight warns
//! when such a secret turns out to be a JSON object). Two dependencies that read the same
//! secret with different keys leave it as written too: no key would be the obvious one.

use crate::loader::Component;
use crate::model::{ComponentId, ComponentSpec};
use std::collections::{BTreeMap, BTreeSet};

/// The JSON key a database password is read from when `passwordSecret` names none.
pub const DEFAULT_PASSWORD_KEY: &str = "password";

/// Fills the `key` of every key-less MicroService secret reference that the rule above
/// decides. Secrets are matched by their `secretRef`/`ref` text as resolved (a name and
/// the ARN of the same secret are not matched).
pub fn fill(components: &mut [Component]) {
    // Database → (secret, key) of its master password.
    let passwords: BTreeMap<ComponentId, (String, String)> = components
        .iter()
        .filter_map(|c| match &c.spec {
            ComponentSpec::Rds(rds) if !rds.password_secret.is_empty() => Some((
                c.id.clone(),
                (
                    rds.password_secret.clone(),
                    rds.password_key
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PASSWORD_KEY.to_string()),
                ),
            )),
            _ => None,
        })
        .collect();
    if passwords.is_empty() {
        return;
    }
    for c in components.iter_mut() {
        let ComponentSpec::MicroService(ms) = &mut c.spec else {
            continue;
        };
        let dependencies: BTreeSet<ComponentId> = c
            .references
            .iter()
            .filter_map(|r| ComponentId::parse(&r.target.value, &c.id.service))
            .collect();
        for secret in ms.secrets.iter_mut().filter(|s| s.key.is_none()) {
            let keys: BTreeSet<&String> = dependencies
                .iter()
                .filter_map(|d| passwords.get(d))
                .filter(|(secret_ref, _)| *secret_ref == secret.secret_ref)
                .map(|(_, key)| key)
                .collect();
            if let [key] = keys.into_iter().collect::<Vec<_>>().as_slice() {
                secret.key = Some((*key).clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diag::{Diagnostics, Severity};
    use crate::interp::Variables;
    use crate::loader::{ResolveOptions, ResolvedStack, read_stack_files, resolve};
    use crate::model::ComponentSpec;
    use crate::source::Sources;
    use std::path::Path;

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }

    /// The walkthrough's stack in a scratch folder, with `edit` applied to its files.
    fn resolved(edit: impl FnOnce(&Path)) -> ResolvedStack {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("notification-platform");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notification-platform"),
            &root,
        );
        edit(&root);
        let mut sources = Sources::with_display_base(&root);
        let mut diags = Diagnostics::default();
        let files = read_stack_files(&root, &mut sources, &mut diags);
        let mut variables = Variables::new();
        variables.push_layer([("VERSION".to_string(), "v1".to_string())].into());
        let stack = resolve(
            &files,
            &ResolveOptions {
                environment: Some("development"),
                variables: &variables,
                undefined_variables: Severity::Error,
            },
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        stack
    }

    /// (env var, key) of the api's secrets.
    fn api_keys(stack: &ResolvedStack) -> Vec<(String, Option<String>)> {
        let api = stack
            .components
            .iter()
            .find(|c| c.id.to_string() == "email-service/api")
            .expect("api");
        let ComponentSpec::MicroService(ms) = &api.spec else {
            panic!("api is a MicroService");
        };
        ms.secrets
            .iter()
            .map(|s| (s.env_var.clone(), s.key.clone()))
            .collect()
    }

    fn edit(root: &Path, file: &str, from: &str, to: &str) {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "the fixture changed: {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }

    const API: &str = "services/email-service/components/api/microservice.yaml";
    const DB: &str = "services/email-service/components/database/rds.yaml";
    const SECRET: &str = "secretRef: /stacks/notification-platform/email-service/db-password";

    #[test]
    fn the_walkthrough_password_reads_the_key_the_database_reads() {
        let stack = resolved(|_| {});
        assert_eq!(
            api_keys(&stack),
            [(
                "DATABASE_PASSWORD".to_string(),
                Some("password".to_string())
            )]
        );
    }

    #[test]
    fn the_database_key_is_followed_and_a_written_key_is_kept() {
        let stack = resolved(|root| {
            edit(
                root,
                DB,
                "ref: /stacks/notification-platform/email-service/db-password",
                "ref: /stacks/notification-platform/email-service/db-password\n      key: pw",
            );
        });
        assert_eq!(api_keys(&stack)[0].1.as_deref(), Some("pw"));

        let stack = resolved(|root| {
            edit(root, API, SECRET, &format!("{SECRET}\n      key: other"));
        });
        assert_eq!(api_keys(&stack)[0].1.as_deref(), Some("other"));
    }

    #[test]
    fn only_a_dependency_database_decides() {
        // Neither `dependsOn` nor `valueFrom` names the database: left as written.
        let stack = resolved(|root| {
            edit(root, API, "    - email-service/database\n", "");
            edit(
                root,
                API,
                "component: email-service/database\n        output: endpoint",
                "component: email-service/queue\n        output: url",
            );
        });
        assert_eq!(api_keys(&stack)[0].1, None);

        // Another secret than the database's: left as written.
        let stack = resolved(|root| {
            edit(root, API, SECRET, "secretRef: /stacks/other");
        });
        assert_eq!(api_keys(&stack)[0].1, None);
    }
}
