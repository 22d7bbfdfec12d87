//! Which tools the server offers, and why a call is refused.
//!
//! One `Policy` governs one firewall. The server holds a single one today; when several named
//! firewalls arrive, each gets its own `Policy` value (nothing here is global).

use crate::catalog::ToolDef;
use crate::safety::glob;
use crate::spec::{Method, Module, Risk};

/// Which tools are offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Offer only GET tools.
    pub read_only: bool,
    /// Offer dangerous tools (halt, reboot, shell, GraphQL, bulk clears).
    pub allow_dangerous: bool,
    /// Offer only these modules (None = all).
    pub modules: Option<Vec<Module>>,
    /// When not empty, offer only tools whose name matches one of these globs.
    pub allow: Vec<String>,
    /// Never offer tools whose name matches one of these globs (wins over everything else).
    pub deny: Vec<String>,
}

/// A tool as the policy sees it: generated tools and our own meta tools alike.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub name: &'a str,
    pub changes_firewall: bool,
    pub risk: Risk,
    pub danger: Option<&'a str>,
    /// None for meta tools: module filters do not hide the safety tools.
    pub module: Option<Module>,
}

impl<'a> From<&'a ToolDef> for Subject<'a> {
    fn from(def: &'a ToolDef) -> Subject<'a> {
        Subject {
            name: def.name,
            changes_firewall: def.method != Method::Get,
            risk: def.risk,
            danger: def.danger,
            module: Some(def.module),
        }
    }
}

impl Policy {
    /// Why a tool is not offered, or None when it is.
    pub fn refusal(&self, def: &ToolDef) -> Option<String> {
        self.refusal_for(Subject::from(def))
    }

    /// Why a tool is not offered: names the rule that refused it and how to change it.
    pub fn refusal_for(&self, tool: Subject<'_>) -> Option<String> {
        if let Some(pattern) = self.deny.iter().find(|p| glob::matches(p, tool.name)) {
            return Some(format!(
                "`{}` is refused by the deny rule `{pattern}` (--deny / PFSENSE_DENY). Remove that pattern from the deny list to allow it.",
                tool.name
            ));
        }
        if self.read_only && tool.changes_firewall {
            return Some(format!(
                "`{}` changes the firewall and the server runs in read-only mode (PFSENSE_READ_ONLY / --read-only). Restart it without read-only mode to allow changes.",
                tool.name
            ));
        }
        if tool.risk == Risk::Dangerous && !self.allow_dangerous {
            return Some(format!(
                "`{}` is dangerous ({}) and is only offered when the server runs with --allow-dangerous (PFSENSE_ALLOW_DANGEROUS=true).",
                tool.name,
                tool.danger.unwrap_or("dangerous")
            ));
        }
        if let (Some(modules), Some(module)) = (&self.modules, tool.module)
            && !modules.contains(&module)
        {
            return Some(format!(
                "`{}` belongs to the `{}` module, which is not enabled (PFSENSE_MODULES / --modules).",
                tool.name, module
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| glob::matches(p, tool.name)) {
            return Some(format!(
                "`{}` matches none of the allow rules ({}) (--allow / PFSENSE_ALLOW). Add a pattern that matches it to allow it.",
                tool.name,
                self.allow
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None
    }

    pub fn offers(&self, def: &ToolDef) -> bool {
        self.refusal(def).is_none()
    }

    /// The policy, once its glob lists are checked: a typo fails loudly at start instead of
    /// allowing nothing.
    pub fn checked(self) -> Result<Policy, String> {
        self.check_patterns()?;
        Ok(self)
    }

    pub fn check_patterns(&self) -> Result<(), String> {
        for (list, patterns) in [("--allow", &self.allow), ("--deny", &self.deny)] {
            for p in patterns {
                if let Some(problem) = glob::check(p) {
                    return Err(format!("{list}: {problem}"));
                }
            }
        }
        Ok(())
    }
}
