//! `panka stack init`: scaffolds a stack that `panka validate` accepts.

use super::{Exit, interactive, prompt};
use crate::cli::StackInitArgs;
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use anyhow::Context;
use panka_core::names::{MAX_NAME_LEN, dns_name_problem, suggest_dns_name};

fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

pub fn stack_yaml(name: &str, description: &str, team: &str, region: &str) -> String {
    let mut out =
        format!("apiVersion: core.panka.io/v1\nkind: Stack\n\nmetadata:\n  name: {name}\n");
    if !description.is_empty() {
        out.push_str(&format!("  description: {}\n", yaml_string(description)));
    }
    if !team.is_empty() {
        out.push_str(&format!("\n  labels:\n    team: {}\n", yaml_string(team)));
    }
    out.push_str(&format!(
        "\nspec:\n  provider:\n    name: aws\n    region: {region}\n"
    ));
    out
}

const DEFAULTS_YAML: &str = "# Applies to every MicroService; its own infra.yaml and the environment's overrides\n# are merged on top.\napiVersion: infra.panka.io/v1\nkind: InfraDefaults\nmetadata:\n  name: defaults\nspec:\n  resources: {cpu: 256, memory: 512}\n  scaling: {replicas: 1}\n";

pub fn run(args: &StackInitArgs, env: &ProcessEnv, ui: &Ui) -> anyhow::Result<Exit> {
    let dir = &env.cwd;
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.join("stack.yaml").exists() {
        return Err(
            UserError::new(format!("{} already holds a stack.yaml", dir.display()))
                .hint("panka stack init never overwrites; edit stack.yaml instead")
                .into(),
        );
    }
    let ask = interactive();
    let missing: Vec<&str> = [
        ("--name", args.name.is_none()),
        ("--team", args.team.is_none()),
    ]
    .into_iter()
    .filter_map(|(flag, missing)| missing.then_some(flag))
    .collect();
    if !ask && !missing.is_empty() {
        return Err(UserError::new(format!(
            "no terminal to ask on; pass {}",
            missing.join(" and ")
        ))
        .into());
    }
    if ask {
        ui.err("Creating new stack...\n");
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => prompt("Stack name", Some(&folder))?,
    };
    if let Some(problem) = dns_name_problem(&name) {
        return Err(
            UserError::new(format!("stack name `{name}` is not DNS-safe: {problem}"))
                .hint(format!("try `{}`", suggest_dns_name(&name)))
                .into(),
        );
    }
    if name.len() > MAX_NAME_LEN {
        return Err(UserError::new(format!(
            "stack name `{name}` is longer than {MAX_NAME_LEN} characters"
        ))
        .into());
    }
    if name != folder {
        return Err(UserError::new(format!(
            "the stack `{name}` must live in a folder named `{name}`, not `{folder}`"
        ))
        .hint(format!(
            "mkdir -p stacks/{name} && cd stacks/{name} && panka stack init"
        ))
        .into());
    }
    let description = match (&args.description, ask) {
        (Some(d), _) => d.clone(),
        (None, true) => prompt("Description", None)?,
        (None, false) => String::new(),
    };
    let team = match &args.team {
        Some(t) => t.clone(),
        None => prompt("Team", None)?,
    };

    let write = |rel: &str, text: &str| -> anyhow::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(
        "stack.yaml",
        &stack_yaml(&name, &description, &team, &args.region),
    )?;
    let mut created = vec!["✓ Created stack.yaml".to_string()];
    if !dir.join("infra/defaults.yaml").exists() {
        write("infra/defaults.yaml", DEFAULTS_YAML)?;
    }
    created.push("✓ Created infra/ directory".into());
    for sub in ["services", "environments"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        // Git keeps no empty folders.
        if std::fs::read_dir(&path)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
        {
            write(&format!("{sub}/.gitkeep"), "")?;
        }
        created.push(format!("✓ Created {sub}/ directory"));
    }
    if ui.is_json() {
        ui.json(&crate::contract::StackInitDocument {
            stack: &name,
            path: dir.display().to_string(),
        });
    } else {
        ui.out(&format!("\n{}\n", created.join("\n")));
    }
    Ok(Exit::Success)
}
