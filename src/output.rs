//! All terminal output goes through [`Ui`]: colour only on a terminal and never with
//! `NO_COLOR`, data on stdout, messages on stderr.

use crate::cli::OutputFormat;
use crate::contract::{ErrorBody, ErrorDocument};
use crate::error::UserError;
use crate::settings::ProcessEnv;
use panka_core::diag::{Diagnostic, Palette, render};
use panka_core::source::Sources;
use std::io::{IsTerminal, Write};

pub struct Ui {
    pub format: OutputFormat,
    stdout_color: bool,
    stderr_color: bool,
}

impl Ui {
    pub fn new(format: OutputFormat, env: &ProcessEnv) -> Self {
        let allowed = !env.no_color;
        Ui {
            format,
            stdout_color: allowed && std::io::stdout().is_terminal(),
            stderr_color: allowed && std::io::stderr().is_terminal(),
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    pub fn palette(&self) -> Palette {
        if self.stdout_color {
            Palette::ANSI
        } else {
            Palette::PLAIN
        }
    }

    fn err_palette(&self) -> Palette {
        if self.stderr_color {
            Palette::ANSI
        } else {
            Palette::PLAIN
        }
    }

    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    pub fn err(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    /// Prints one document of the JSON contract (`crate::contract`) on stdout.
    ///
    /// It goes through a `serde_json::Value` so that keys print in serde_json's map order,
    /// as they always have: sorted in the shipped binary, in field order when a build
    /// enables serde_json's `preserve_order` (a `--workspace` test build does, through a
    /// dev-dependency), and the contract's fields are declared in that order.
    pub fn json(&self, document: &impl serde::Serialize) {
        let value = serde_json::to_value(document).unwrap_or_default();
        let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".into());
        self.out(&format!("{text}\n"));
    }

    pub fn diagnostics(&self, sources: &Sources, diagnostics: &[Diagnostic]) {
        let palette = self.err_palette();
        let mut text = String::new();
        for d in diagnostics {
            text.push_str(&render(sources, d, palette));
            text.push('\n');
        }
        self.err(&text);
    }

    pub fn error(&self, err: &anyhow::Error) {
        if self.is_json() {
            let hint = crate::error::hint_of(err);
            self.json(&ErrorDocument {
                error: ErrorBody {
                    message: err.to_string(),
                    hint,
                },
            });
        }
        let p = self.err_palette();
        let mut text = format!("{}error{}: {err}\n", p.error, p.reset);
        if let Some(hint) = crate::error::hint_of(err) {
            text.push_str(&format!("  {}hint{}: {hint}\n", p.bold, p.reset));
        }
        if err.downcast_ref::<UserError>().is_none() {
            for cause in err.chain().skip(1) {
                text.push_str(&format!("  caused by: {cause}\n"));
            }
        }
        self.err(&text);
    }
}
