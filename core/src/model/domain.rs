//! An environment's domain (`spec.domain`) and the host names its services answer on.
//!
//! The rules live in the AWS-free core so that `validate` finds a host outside the
//! domain, or two services claiming one host, before anything is created; the provider
//! builds the records, the certificate and the listener rules from [`service_hosts`].

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{ComponentId, ComponentSpec, MicroServiceSpec};
use crate::naming::fit;
use crate::read::{self, MapReader};
use crate::reconcile::ResourceContext;
use crate::source::Span;
use crate::yaml::{Entry, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// Longest DNS name (RFC 1035, without the final dot) and label.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// `spec.domain`: the Route 53 hosted zone the environment's public services get their
/// names in, and optionally a certificate the team manages itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Domain {
    /// The zone's name, lowercase, without the final dot (`company.com`).
    pub name: String,
    /// Picks the zone by id: needed only when several public zones share the name.
    pub hosted_zone_id: Option<String>,
    /// An ACM certificate (same region) covering every host; panka then requests none.
    pub certificate_arn: Option<String>,
    /// Where each part is written, for diagnostics and the apply preflight.
    #[serde(skip)]
    pub at: DomainSpans,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DomainSpans {
    /// The `domain` key.
    pub domain: Option<Span>,
    pub name: Option<Span>,
    pub hosted_zone_id: Option<Span>,
    pub certificate_arn: Option<Span>,
}

/// Why `name` is not a host name panka can create records for, if it is not one.
/// Lowercase letters, digits and `-` in dot-separated labels of 1–63 characters, no label
/// starting or ending with `-`, at least two labels, at most 253 characters.
pub fn host_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!(
            "is {} characters long; at most {MAX_NAME}",
            name.len()
        ));
    }
    if name.ends_with('.') {
        return Some("ends with `.`; write the name without the final dot".into());
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("has uppercase letters; DNS names are written in lowercase here".into());
    }
    if name.starts_with("*.") {
        return Some("is a wildcard; name each host".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("has a single label; a host name has at least two (`api.company.com`)".into());
    }
    for label in labels {
        if label.is_empty() {
            return Some("has an empty label (`..`)".into());
        }
        if label.len() > MAX_LABEL {
            return Some(format!(
                "has a label of {} characters; at most {MAX_LABEL}",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Some(format!(
                "contains `{c}`; only a-z, 0-9, `-` and `.` are allowed"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("has label `{label}` starting or ending with `-`"));
        }
    }
    None
}

/// Whether `host` is the domain itself or a name under it.
pub fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// The host names a MicroService answers on in its environment: its `loadBalancer.alias`
/// list, else one default name, `<stack>-<env>-<service>-<component>` (cut to one DNS
/// label like every physical name) under the domain. None without a domain, and none for
/// a service without an internet-facing load balancer.
pub fn service_hosts(ctx: &ResourceContext, spec: &MicroServiceSpec) -> Vec<String> {
    let Some(domain) = &ctx.domain else {
        return Vec::new();
    };
    if !spec.load_balancer.enabled || spec.load_balancer.internal {
        return Vec::new();
    }
    if !spec.load_balancer.aliases.is_empty() {
        return spec.load_balancer.aliases.clone();
    }
    vec![format!(
        "{}.{}",
        fit(&ctx.base_name(), MAX_LABEL),
        domain.name
    )]
}

/// Reads `spec.domain`: either the zone's name (`domain: company.com`) or a mapping with
/// `name`, and optionally `hostedZoneId` and `certificateArn`.
pub fn lower_domain(entry: &Entry, diags: &mut Diagnostics) -> Option<Domain> {
    let mut at = DomainSpans {
        domain: Some(entry.key_span),
        ..DomainSpans::default()
    };
    let (name, hosted_zone_id, certificate_arn) = match &entry.value.value {
        Value::Scalar(_) => {
            at.name = Some(entry.value.span);
            let name = read::string(&entry.value, "spec.domain", diags);
            (name, None, None)
        }
        _ => {
            let mut m = MapReader::new(&entry.value, "spec.domain", entry.key_span, diags)?;
            at.name = m.get("name").map(|n| n.span);
            at.hosted_zone_id = m.get("hostedZoneId").map(|n| n.span);
            at.certificate_arn = m.get("certificateArn").map(|n| n.span);
            let name = m.required_string("name", diags);
            let zone = m.string("hostedZoneId", diags);
            let arn = m.string("certificateArn", diags);
            m.finish(diags);
            // No early return on a missing name: the zone id and ARN are still checked,
            // so one run reports every problem.
            (name, zone, arn)
        }
    };
    if let (Some(name), Some(span)) = (&name, at.name)
        && let Some(problem) = host_name_problem(name)
    {
        // An Environment's spec is never substituted, so `${DOMAIN}` would stay literal:
        // say so rather than only naming the `$`.
        let hint = if name.contains("${") {
            "variables are not substituted in an Environment's spec: write the zone's name, e.g. `company.com`"
        } else {
            "the name of a Route 53 public hosted zone, e.g. `company.com`"
        };
        diags.push(
            Diagnostic::at("E025", span, format!("domain `{name}` {problem}"))
                .with_label("not a DNS zone name")
                .with_hint(hint),
        );
    }
    if let (Some(zone), Some(span)) = (&hosted_zone_id, at.hosted_zone_id)
        && !looks_like_zone_id(zone)
    {
        diags.push(
            Diagnostic::at("E025", span, format!("`{zone}` is not a hosted zone id"))
                .with_label("expected Z and uppercase letters or digits")
                .with_hint("hosted zone ids look like `Z0123456789ABCDEFGHIJ`"),
        );
    }
    if let (Some(arn), Some(span)) = (&certificate_arn, at.certificate_arn)
        && !looks_like_certificate_arn(arn)
    {
        diags.push(
            Diagnostic::at(
                "E025",
                span,
                format!("`{arn}` is not an ACM certificate ARN"),
            )
            .with_label("expected arn:aws:acm:<region>:<account>:certificate/<id>")
            .with_hint("copy the ARN from `aws acm list-certificates`, in the stack's region"),
        );
    }
    Some(Domain {
        name: name?,
        hosted_zone_id,
        certificate_arn,
        at,
    })
}

fn looks_like_zone_id(id: &str) -> bool {
    let id = id.strip_prefix("/hostedzone/").unwrap_or(id);
    id.len() > 1
        && id.starts_with('Z')
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn looks_like_certificate_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty())
}

/// The cross-file rules of host names (`E027`), for one resolved environment: an alias
/// needs the environment's domain, lies under it, belongs to a public load balancer, and
/// no two services claim one host (two services would overwrite each other's record).
pub fn check_hosts<'a>(
    domain: Option<&Domain>,
    stack: &str,
    environment: &str,
    components: impl IntoIterator<Item = (&'a ComponentId, &'a ComponentSpec)>,
    diags: &mut Diagnostics,
) {
    let mut claimed: BTreeMap<String, &ComponentId> = BTreeMap::new();
    for (id, spec) in components {
        let ComponentSpec::MicroService(ms) = spec else {
            continue;
        };
        let lb = &ms.load_balancer;
        for (alias, span) in lb.aliases.iter().zip(&lb.alias_spans) {
            let Some(domain) = domain else {
                diags.push(
                    Diagnostic::at(
                        "E027",
                        *span,
                        format!("`{id}` has an alias, and environment `{environment}` has no `spec.domain`"),
                    )
                    .with_label("no domain to create this name in")
                    .with_hint(format!(
                        "add `domain: <your hosted zone>` to environments/{environment}/environment.yaml, or override `loadBalancer.alias` there"
                    )),
                );
                continue;
            };
            if !lb.enabled || lb.internal {
                diags.push(
                    Diagnostic::at(
                        "E027",
                        *span,
                        format!("`{id}` has an alias but no internet-facing load balancer"),
                    )
                    .with_label("nothing public to point this name at")
                    .with_hint(
                        "aliases name the public load balancer of a service with an `http` port",
                    ),
                );
                continue;
            }
            // A domain that is not a DNS name was reported at itself (`E025`); comparing
            // aliases with it would only add an error per alias.
            if !alias.contains("${")
                && host_name_problem(&domain.name).is_none()
                && !within(alias, &domain.name)
            {
                diags.push(
                    Diagnostic::at(
                        "E027",
                        *span,
                        format!("alias `{alias}` is not under the environment's domain `{}`", domain.name),
                    )
                    .with_label("outside the hosted zone")
                    .with_hint(format!(
                        "write a name ending in `.{}`, or override `loadBalancer.alias` in this environment",
                        domain.name
                    )),
                );
            }
        }
        if domain.is_none() {
            continue;
        }
        let ctx = ResourceContext {
            stack: stack.to_string(),
            environment: environment.to_string(),
            id: id.clone(),
            region: String::new(),
            production: false,
            network: None,
            domain: domain.cloned(),
        };
        let hosts = service_hosts(&ctx, ms);
        // Aliases were checked one by one when read; the default host is built here, and
        // under a long domain it can pass the 253 characters a DNS name may have.
        if lb.aliases.is_empty()
            && let Some(domain) = domain
            && host_name_problem(&domain.name).is_none()
            && let Some(span) = domain.at.name
        {
            for host in &hosts {
                if let Some(problem) = host_name_problem(host) {
                    diags.push(
                        Diagnostic::at(
                            "E027",
                            span,
                            format!("the default host of `{id}`, `{host}`, {problem}"),
                        )
                        .with_label("too long with the default host")
                        .with_hint(format!(
                            "give `{id}` a shorter name in `loadBalancer.alias`"
                        )),
                    );
                }
            }
        }
        for (i, host) in hosts.into_iter().enumerate() {
            match claimed.get(&host) {
                Some(first) if *first != id => {
                    let span = lb
                        .alias_spans
                        .get(i)
                        .copied()
                        .or(domain.and_then(|d| d.at.domain));
                    if let Some(span) = span {
                        diags.push(
                            Diagnostic::at(
                                "E027",
                                span,
                                format!("host `{host}` is claimed by `{first}` and `{id}`"),
                            )
                            .with_label("already another service's name")
                            .with_hint("each host name routes to one service: give one of them another alias"),
                        );
                    }
                }
                Some(_) => {}
                None => {
                    claimed.insert(host, id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceId;
    use crate::yaml::parse_document;

    /// `spec.domain` read from `domain: …` written as the whole document, with the codes
    /// reported and where (line, column).
    fn read_domain(text: &str) -> (Option<Domain>, Vec<(&'static str, u32, u32)>) {
        let doc = parse_document(SourceId(0), text).expect("valid yaml");
        let entry = doc
            .as_map()
            .and_then(|entries| entries.iter().find(|e| e.key == "domain"))
            .expect("a domain entry");
        let mut diags = Diagnostics::default();
        let domain = lower_domain(entry, &mut diags);
        let codes = diags
            .iter()
            .map(|d| {
                let span = d.span().expect("a place");
                (d.code, span.line, span.column)
            })
            .collect();
        (domain, codes)
    }

    #[test]
    fn the_short_and_the_map_form_read_alike() {
        let (short, codes) = read_domain("domain: company.com\n");
        assert_eq!(codes, []);
        let short = short.expect("domain");
        assert_eq!(short.name, "company.com");
        assert_eq!((short.hosted_zone_id, short.certificate_arn), (None, None));
        let (full, codes) = read_domain(
            "domain:\n  name: company.com\n  hostedZoneId: Z0123456789ABCDEFGHIJ\n  certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n",
        );
        assert_eq!(codes, []);
        let full = full.expect("domain");
        assert_eq!(full.name, "company.com");
        assert_eq!(
            full.hosted_zone_id.as_deref(),
            Some("Z0123456789ABCDEFGHIJ")
        );
        assert!(full.certificate_arn.is_some());
        assert_eq!(full.at.name.map(|s| (s.line, s.column)), Some((2, 9)));
    }

    #[test]
    fn a_missing_name_does_not_hide_a_bad_zone_id_or_arn() {
        let (domain, codes) =
            read_domain("domain:\n  hostedZoneId: zone-1\n  certificateArn: my-cert\n");
        assert_eq!(domain, None);
        assert_eq!(codes, [("E022", 1, 1), ("E025", 2, 17), ("E025", 3, 19)]);
    }

    #[test]
    fn a_variable_in_the_domain_is_reported_since_environments_are_not_substituted() {
        let doc = parse_document(SourceId(0), "domain: ${DOMAIN}\n").expect("yaml");
        let entry = &doc.as_map().expect("map")[0];
        let mut diags = Diagnostics::default();
        lower_domain(entry, &mut diags);
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(d.code, "E025");
        assert!(
            d.hint
                .as_deref()
                .is_some_and(|h| h.contains("not substituted")),
            "{d:?}"
        );
    }

    #[test]
    fn host_names_follow_dns_rules() {
        for good in [
            "company.com",
            "dev-email-api.company.com",
            "a.b.c.d",
            "x1.io",
        ] {
            assert_eq!(host_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "company",
            "Company.com",
            "api.company.com.",
            "*.company.com",
            "api..company.com",
            "-api.company.com",
            "api_1.company.com",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}com", "abcdefghi.".repeat(26)),
        ] {
            assert!(host_name_problem(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn within_means_the_domain_or_a_name_under_it() {
        assert!(within("company.com", "company.com"));
        assert!(within("api.company.com", "company.com"));
        assert!(within("a.b.company.com", "company.com"));
        assert!(!within("evilcompany.com", "company.com"));
        assert!(!within("company.com.evil.io", "company.com"));
    }

    #[test]
    fn arns_and_zone_ids_are_recognised() {
        assert!(looks_like_zone_id("Z0123456789ABCDEFGHIJ"));
        assert!(looks_like_zone_id("/hostedzone/Z2P70J7EXAMPLE"));
        assert!(!looks_like_zone_id("z123"));
        assert!(!looks_like_zone_id("company.com"));
        assert!(looks_like_certificate_arn(
            "arn:aws:acm:us-east-1:123456789012:certificate/7c6f504d-63c5-4184"
        ));
        assert!(!looks_like_certificate_arn(
            "arn:aws:iam::123456789012:server-certificate/x"
        ));
        assert!(!looks_like_certificate_arn("7c6f504d-63c5-4184"));
    }
}
