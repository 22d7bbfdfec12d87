//! Which tools the server offers, and why a call is refused.
//!
//! One `Policy` governs one firewall. With a config file each firewall has its own rules, and
//! the server-wide flags narrow them further (`narrowed_by`): a flag can take tools away from
//! every firewall, never give one back. Refusals name the firewall and the rule's origin.

use crate::catalog::ToolDef;
use crate::safety::glob;
use crate::spec::{Method, Module, Risk};

/// Which tools are offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Offer only GET tools.
    pub read_only: bool,
    /// Offer dangerous tools (halt, reboot, shell, cron jobs, packages, GraphQL, bulk clears).
    pub allow_dangerous: bool,
    /// Offer only these modules (None = all).
    pub modules: Option<Vec<Module>>,
    /// When not empty, offer only tools whose name matches one of these globs.
    pub allow: Vec<String>,
    /// Never offer tools whose name matches one of these globs (wins over everything else).
    pub deny: Vec<String>,
    /// Where these rules were set; refusals name it so the reader knows what to change.
    pub origin: Origin,
    /// Rules set elsewhere that narrow these (the server-wide flags over a firewall of the
    /// config file): a tool is offered only when both allow it.
    pub narrowed_by: Option<Box<Policy>>,
}

/// Where a policy's rules were set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// Command-line flags and their environment variables.
    #[default]
    Flags,
    /// One firewall's table in the config file.
    ConfigFile { firewall: String, path: String },
}

impl Origin {
    /// The setting that made a rule, as the reader would change it: `flag` / `env` for flags,
    /// `key` in the firewall's table otherwise.
    pub fn setting(&self, flag: &str, env: &str, key: &str) -> String {
        match self {
            Origin::Flags => format!("{flag} / {env}"),
            Origin::ConfigFile { firewall, path } => {
                format!("`{key}` of firewall `{firewall}` in {path}")
            }
        }
    }
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

impl<'a> Subject<'a> {
    /// A tool of our own that only reads (health, the operator tools): of the rules, only
    /// deny patterns apply to it.
    pub fn own_read(name: &'a str) -> Subject<'a> {
        Subject {
            name,
            changes_firewall: false,
            risk: Risk::Read,
            danger: None,
            module: None,
        }
    }
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

    /// Why a call of an offered tool is refused for its arguments: values that make an
    /// ordinary write dangerous (`tables::DANGEROUS_ARGUMENTS`, e.g. an ACME certificate
    /// whose actions run shell commands) need the permission dangerous tools need.
    pub fn argument_refusal(&self, def: &ToolDef, args: &serde_json::Value) -> Option<String> {
        self.argument_refusal_at(def, args, crate::spec::tables::TargetState::NotRead)
    }

    /// [`Policy::argument_refusal`] given what is known of the change's target: some arguments
    /// are dangerous only given its state (a member added to a group that holds a
    /// root-equivalent privilege), and a target that could not be read is judged at its worst.
    pub fn argument_refusal_at(
        &self,
        def: &ToolDef,
        args: &serde_json::Value,
        state: crate::spec::tables::TargetState<'_>,
    ) -> Option<String> {
        if let Some(refusal) = self.apply_refusal(def, args) {
            return Some(refusal);
        }
        let rel = def.path.strip_prefix(crate::spec::API_PREFIX)?;
        let why = crate::spec::tables::argument_danger_at(rel, args, state)?;
        let refusal = self.refusal_for(Subject {
            risk: Risk::Dangerous,
            danger: Some(why),
            ..Subject::from(def)
        })?;
        Some(format!(
            "With these arguments {refusal} Without such values the call is an ordinary change."
        ))
    }

    /// `apply: true` makes the firewall apply the subsystem in the same request, which is what
    /// the subsystem's apply tool does: refused when that tool is (a deny rule or allow list
    /// naming it), since it applies every pending change of the subsystem, not only this one.
    fn apply_refusal(&self, def: &ToolDef, args: &serde_json::Value) -> Option<String> {
        if args.get("apply").and_then(serde_json::Value::as_bool) != Some(true) {
            return None;
        }
        let apply = crate::catalog::tool(def.apply?.tool)?;
        let refusal = self.refusal(apply)?;
        Some(format!(
            "`apply: true` applies the subsystem as `{}` does, and {refusal} Leave out `apply` (the change then stays pending until the subsystem is applied).",
            apply.name
        ))
    }

    /// Why a tool is not offered: names the rule that refused it and how to change it.
    pub fn refusal_for(&self, tool: Subject<'_>) -> Option<String> {
        self.own_refusal(tool)
            .or_else(|| self.narrowed_by.as_ref()?.refusal_for(tool))
    }

    fn own_refusal(&self, tool: Subject<'_>) -> Option<String> {
        let o = &self.origin;
        if let Some(pattern) = self.deny.iter().find(|p| glob::matches(p, tool.name)) {
            return Some(format!(
                "`{}` is refused by the deny rule `{pattern}` ({}). Remove that pattern from the deny list to allow it.",
                tool.name,
                o.setting("--deny", "PFSENSE_DENY", "deny")
            ));
        }
        if self.read_only && tool.changes_firewall {
            return Some(match o {
                Origin::Flags => format!(
                    "`{}` changes the firewall and the server runs in read-only mode (PFSENSE_READ_ONLY / --read-only). Restart it without read-only mode to allow changes.",
                    tool.name
                ),
                Origin::ConfigFile { firewall, path } => format!(
                    "`{}` changes the firewall and firewall `{firewall}` is read-only (`read_only = true` in {path}). Changes go to a writable firewall, or change the config file and restart.",
                    tool.name
                ),
            });
        }
        if tool.risk == Risk::Dangerous && !self.allow_dangerous {
            return Some(format!(
                "`{}` is dangerous ({}) and is only offered with {}.",
                tool.name,
                tool.danger.unwrap_or("dangerous"),
                match o {
                    Origin::Flags => "--allow-dangerous (PFSENSE_ALLOW_DANGEROUS=true)".to_string(),
                    Origin::ConfigFile { firewall, path } =>
                        format!("`allow_dangerous = true` for firewall `{firewall}` in {path}"),
                }
            ));
        }
        if let (Some(modules), Some(module)) = (&self.modules, tool.module)
            && !modules.contains(&module)
        {
            return Some(format!(
                "`{}` belongs to the `{}` module, which is not enabled ({}).",
                tool.name,
                module,
                o.setting("--modules", "PFSENSE_MODULES", "modules")
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| glob::matches(p, tool.name)) {
            return Some(format!(
                "`{}` matches none of the allow rules ({}) ({}). Add a pattern that matches it to allow it.",
                tool.name,
                self.allow
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                o.setting("--allow", "PFSENSE_ALLOW", "allow")
            ));
        }
        None
    }

    /// Only reading tools are offered (by these rules or the ones narrowing them).
    pub fn is_read_only(&self) -> bool {
        self.read_only || self.narrowed_by.as_ref().is_some_and(|p| p.is_read_only())
    }

    /// These rules, narrowed by the server-wide flags: the result offers a tool only when both
    /// do. `--allow-dangerous` cannot widen a firewall's rules, so the flags' own
    /// `allow_dangerous` is not consulted here (the config file decides per firewall).
    pub fn narrowed(mut self, flags: &Policy) -> Policy {
        let mut flags = flags.clone();
        flags.allow_dangerous = true;
        flags.narrowed_by = None;
        let restricts = flags.read_only
            || flags.modules.is_some()
            || !flags.allow.is_empty()
            || !flags.deny.is_empty();
        if restricts {
            self.narrowed_by = Some(Box::new(flags));
        }
        self
    }

    /// One line for people and models: `read-only`, `writable`, plus what else narrows it.
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.is_read_only() {
            "read-only".to_string()
        } else {
            "writable".to_string()
        }];
        // Only the firewall's own rules decide on dangerous tools (see `narrowed`).
        if self.allow_dangerous {
            parts.push("dangerous tools allowed".into());
        }
        let mut layer = Some(self);
        while let Some(p) = layer {
            if let Some(m) = &p.modules {
                let names: Vec<&str> = m.iter().map(|m| m.as_str()).collect();
                parts.push(format!("modules {}", names.join(",")));
            }
            if !p.allow.is_empty() {
                parts.push(format!("allow {}", p.allow.join(",")));
            }
            if !p.deny.is_empty() {
                parts.push(format!("deny {}", p.deny.join(",")));
            }
            layer = p.narrowed_by.as_deref();
        }
        parts.join("; ")
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
        for (list, patterns) in [
            (
                self.origin.setting("--allow", "PFSENSE_ALLOW", "allow"),
                &self.allow,
            ),
            (
                self.origin.setting("--deny", "PFSENSE_DENY", "deny"),
                &self.deny,
            ),
        ] {
            for p in patterns {
                if let Some(problem) = glob::check(p).or_else(|| matches_no_tool(p)) {
                    return Err(format!("{list}: {problem}"));
                }
            }
        }
        Ok(())
    }
}

/// Every tool name a pattern can meet: the generated tools and our own.
fn tool_names() -> impl Iterator<Item = &'static str> {
    crate::catalog::TOOLS
        .iter()
        .map(|d| d.name)
        .chain(crate::meta::META_TOOLS.iter().map(|m| m.name))
}

/// Why a pattern that matches no tool is refused (a misspelling would otherwise offer every
/// tool under `deny`, or none under `allow`), with the names closest to it.
fn matches_no_tool(pattern: &str) -> Option<String> {
    if tool_names().any(|name| glob::matches(pattern, name)) {
        return None;
    }
    let lower = pattern.to_ascii_lowercase();
    if lower != pattern && tool_names().any(|name| glob::matches(&lower, name)) {
        return Some(format!(
            "`{pattern}` matches no tool: patterns are case-sensitive and tool names are lower case (`{lower}` matches)"
        ));
    }
    let closest: Vec<String> = glob::closest(pattern, tool_names(), 3)
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect();
    Some(format!(
        "`{pattern}` matches no tool (misspelt?); the closest tool names are {}. `pfsense-mcp tools` lists them all",
        closest.join(", ")
    ))
}
