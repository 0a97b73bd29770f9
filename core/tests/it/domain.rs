//! An environment's `spec.domain` and the hosts its MicroServices answer on
//! (`model::domain`): both forms of `domain` resolved, aliases or the default host, no
//! host for an internal load balancer, aliases overridden per environment, and the
//! `E027` rules seen through `resolve`.

use crate::support::files::write;
use panka_core::desired;
use panka_core::diag::{Diagnostics, Severity};
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, ResolvedStack, read_stack_files, resolve};
use panka_core::model::{ComponentSpec, service_hosts};
use panka_core::source::Sources;
use std::path::Path;

/// A stack `name` with one service `service`, written under `root`.
fn stack(root: &Path, name: &str, service: &str) {
    write(
        root,
        "stack.yaml",
        &format!(
            "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: {name}\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n"
        ),
    );
    write(
        root,
        &format!("services/{service}/service.yaml"),
        &format!(
            "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: {service}\n  stack: {name}\n"
        ),
    );
}

/// A MicroService with an `http` port; `load_balancer` is the text of its
/// `loadBalancer` mapping (indented by four spaces), or empty for none.
fn microservice(root: &Path, stack: &str, service: &str, name: &str, load_balancer: &str) {
    let lb = if load_balancer.is_empty() {
        String::new()
    } else {
        format!("  loadBalancer:\n{load_balancer}")
    };
    write(
        root,
        &format!("services/{service}/components/{name}/microservice.yaml"),
        &format!(
            "apiVersion: components.panka.io/v1\nkind: MicroService\nmetadata:\n  name: {name}\n  service: {service}\n  stack: {stack}\nspec:\n  image:\n    repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}\n    tag: v1.0.0\n  ports:\n    - name: http\n      port: 8080\n{lb}"
        ),
    );
}

/// An environment whose `spec` is `spec` (indented by two spaces).
fn environment(root: &Path, name: &str, spec: &str) {
    write(
        root,
        &format!("environments/{name}/environment.yaml"),
        &format!(
            "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n{spec}"
        ),
    );
}

fn resolve_in(root: &Path, env: &str) -> (ResolvedStack, Diagnostics, Sources) {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(root, &mut sources, &mut diags);
    let variables = Variables::new();
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment: Some(env),
            variables: &variables,
            undefined_variables: Severity::Error,
        },
        &mut diags,
    );
    (stack, diags, sources)
}

/// The hosts of component `id` in the resolved stack, as apply computes them.
fn hosts(stack: &ResolvedStack, id: &str) -> Vec<String> {
    let component = stack
        .components
        .iter()
        .find(|c| c.id.to_string() == id)
        .unwrap_or_else(|| panic!("{id} missing"));
    let ComponentSpec::MicroService(ms) = &component.spec else {
        panic!("{id} is a MicroService")
    };
    let env = stack.environment.as_deref().expect("an environment");
    service_hosts(&desired::context(stack, env, &component.id), ms)
}

fn codes(diags: &Diagnostics) -> Vec<(&'static str, String)> {
    diags.iter().map(|d| (d.code, d.message.clone())).collect()
}

/// `shop`: `web/api` with the alias `api.company.com`, `web/admin` without one, and
/// `web/internal` behind an internal load balancer. Production names its domain in the
/// short form; staging in the map form, with its own zone and its own alias for
/// `web/api`.
fn shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "api", "    alias: api.company.com\n");
    microservice(&root, "shop", "web", "admin", "");
    microservice(&root, "shop", "web", "internal", "    internal: true\n");
    environment(&root, "production", "  domain: company.com\n");
    environment(
        &root,
        "staging",
        "  domain:\n    name: staging.company.com\n    hostedZoneId: Z0123456789ABCDEFGHIJ\n    certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c\n  overrides:\n    web/api:\n      spec:\n        loadBalancer:\n          alias: [api.staging.company.com, www.staging.company.com]\n",
    );
    dir
}

#[test]
fn the_domain_resolves_in_the_short_and_the_map_form() {
    let dir = shop();
    let root = dir.path().join("shop");

    let (production, diags, _) = resolve_in(&root, "production");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    let domain = production
        .environment_spec
        .as_ref()
        .and_then(|e| e.domain.as_ref())
        .expect("production's domain");
    assert_eq!(domain.name, "company.com");
    assert_eq!(domain.hosted_zone_id, None);
    assert_eq!(domain.certificate_arn, None);

    let (staging, diags, _) = resolve_in(&root, "staging");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    let domain = staging
        .environment_spec
        .as_ref()
        .and_then(|e| e.domain.as_ref())
        .expect("staging's domain");
    assert_eq!(domain.name, "staging.company.com");
    assert_eq!(
        domain.hosted_zone_id.as_deref(),
        Some("Z0123456789ABCDEFGHIJ")
    );
    assert_eq!(
        domain.certificate_arn.as_deref(),
        Some("arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c")
    );
}

#[test]
fn a_service_answers_on_its_aliases_else_on_its_default_host() {
    let dir = shop();
    let (production, diags, _) = resolve_in(&dir.path().join("shop"), "production");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    assert_eq!(hosts(&production, "web/api"), ["api.company.com"]);
    assert_eq!(
        hosts(&production, "web/admin"),
        ["shop-production-web-admin.company.com"]
    );
}

#[test]
fn an_internal_load_balancer_gets_no_host() {
    let dir = shop();
    let (production, diags, _) = resolve_in(&dir.path().join("shop"), "production");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    assert_eq!(hosts(&production, "web/internal"), Vec::<String>::new());
}

#[test]
fn an_environment_without_a_domain_gives_no_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "admin", "");
    environment(&root, "dev", "  variables:\n    LOG_LEVEL: debug\n");
    let (dev, diags, _) = resolve_in(&root, "dev");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    assert_eq!(hosts(&dev, "web/admin"), Vec::<String>::new());
}

#[test]
fn the_default_host_of_a_long_name_is_one_label_cut_with_a_hash() {
    let stack_name = "notification-platform-eu-central";
    let service = "customer-communications-gateway";
    let component = "transactional-email-renderer";
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join(stack_name);
    stack(&root, stack_name, service);
    microservice(&root, stack_name, service, component, "");
    environment(&root, "staging-blue", "  domain: company.com\n");
    let (resolved, diags, _) = resolve_in(&root, "staging-blue");
    assert!(diags.is_empty(), "{:?}", codes(&diags));

    let hosts = hosts(&resolved, &format!("{service}/{component}"));
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let label = hosts[0]
        .strip_suffix(".company.com")
        .expect("under the domain");
    let base = format!("{stack_name}-staging-blue-{service}-{component}");
    assert!(base.len() > 63, "the base name needs cutting: {base}");
    // One DNS label: at most 63 characters, the base name's first 56 and a 6-hex hash.
    assert!(label.len() <= 63 && !label.contains('.'), "{label}");
    let (head, hash) = label.rsplit_once('-').expect("a hash");
    assert_eq!(head, &base[..56]);
    assert_eq!(hash.len(), 6);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{hash}"
    );
    // The exact name (`e25bdd`: the low 24 bits of the base name's 32-bit FNV-1a), so a
    // change to the rule, which would move every record already created, is seen here.
    assert_eq!(
        hosts[0],
        "notification-platform-eu-central-staging-blue-customer-c-e25bdd.company.com"
    );
}

#[test]
fn aliases_are_overridden_per_environment_each_under_its_own_domain() {
    let dir = shop();
    let root = dir.path().join("shop");
    let (production, diags, _) = resolve_in(&root, "production");
    assert!(diags.is_empty(), "{:?}", codes(&diags));
    let (staging, diags, sources) = resolve_in(&root, "staging");
    assert!(diags.is_empty(), "{:?}", codes(&diags));

    assert_eq!(hosts(&production, "web/api"), ["api.company.com"]);
    assert_eq!(
        hosts(&staging, "web/api"),
        ["api.staging.company.com", "www.staging.company.com"]
    );
    assert_eq!(
        hosts(&staging, "web/admin"),
        ["shop-staging-web-admin.staging.company.com"]
    );

    // The overridden alias is placed in the environment's file, for its diagnostics.
    let api = staging
        .components
        .iter()
        .find(|c| c.id.to_string() == "web/api")
        .expect("web/api");
    let ComponentSpec::MicroService(ms) = &api.spec else {
        panic!("a MicroService")
    };
    let span = ms.load_balancer.alias_spans[0];
    assert!(
        sources
            .get(span.source)
            .path
            .ends_with("environments/staging/environment.yaml"),
        "{:?}",
        sources.get(span.source).path
    );
    assert_eq!((span.line, span.column), (14, 19));
}

#[test]
fn an_alias_from_the_component_file_outside_an_environments_domain_is_e027_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "api", "    alias: api.company.com\n");
    environment(&root, "staging", "  domain: staging.company.com\n");
    let (_, diags, _) = resolve_in(&root, "staging");
    assert_eq!(
        codes(&diags),
        [(
            "E027",
            "alias `api.company.com` is not under the environment's domain `staging.company.com`"
                .to_string()
        )]
    );
}

#[test]
fn an_alias_on_an_internal_load_balancer_is_e027() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(
        &root,
        "shop",
        "web",
        "api",
        "    internal: true\n    alias: api.company.com\n",
    );
    environment(&root, "staging", "  domain: company.com\n");
    let (_, diags, _) = resolve_in(&root, "staging");
    assert_eq!(
        codes(&diags),
        [(
            "E027",
            "`web/api` has an alias but no internet-facing load balancer".to_string()
        )]
    );
}

#[test]
fn an_alias_equal_to_another_services_default_host_is_e027() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "admin", "");
    microservice(
        &root,
        "shop",
        "web",
        "api",
        "    alias: shop-staging-web-admin.company.com\n",
    );
    environment(&root, "staging", "  domain: company.com\n");
    let (_, diags, _) = resolve_in(&root, "staging");
    assert_eq!(
        codes(&diags),
        [(
            "E027",
            "host `shop-staging-web-admin.company.com` is claimed by `web/admin` and `web/api`"
                .to_string()
        )]
    );
}

#[test]
fn a_bad_domain_is_reported_once_not_again_at_every_alias() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "api", "    alias: api.company.com\n");
    environment(&root, "staging", "  domain: Company.com\n");
    let (_, diags, _) = resolve_in(&root, "staging");
    let found: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(found, ["E025"], "{:?}", codes(&diags));
}

#[test]
fn a_default_host_longer_than_a_dns_name_is_e027_at_the_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    stack(&root, "shop", "web");
    microservice(&root, "shop", "web", "admin", "");
    // A valid zone of 235 characters: with `shop-staging-web-admin.` the host has 258.
    let zone = format!("{0}.{0}.{0}.{0}.com", "z".repeat(57));
    environment(&root, "staging", &format!("  domain: {zone}\n"));
    let (_, diags, _) = resolve_in(&root, "staging");
    let found: Vec<(&str, u32, u32)> = diags
        .iter()
        .map(|d| {
            let at = d.span().expect("a place");
            (d.code, at.line, at.column)
        })
        .collect();
    assert_eq!(found, [("E027", 6, 11)], "{:?}", codes(&diags));
}
