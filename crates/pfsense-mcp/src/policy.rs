//! Which tools the server offers, and why a call is refused.

use crate::catalog::ToolDef;
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
}

impl Policy {
    /// Why a tool is not offered, or None when it is.
    pub fn refusal(&self, def: &ToolDef) -> Option<String> {
        if self.read_only && def.method != Method::Get {
            return Some(format!(
                "`{}` changes the firewall and the server runs in read-only mode (PFSENSE_READ_ONLY / --read-only). Restart it without read-only mode to allow changes.",
                def.name
            ));
        }
        if def.risk == Risk::Dangerous && !self.allow_dangerous {
            return Some(format!(
                "`{}` is dangerous ({}) and is only offered when the server runs with --allow-dangerous (PFSENSE_ALLOW_DANGEROUS=true).",
                def.name,
                def.danger.unwrap_or("dangerous")
            ));
        }
        if let Some(modules) = &self.modules
            && !modules.contains(&def.module)
        {
            return Some(format!(
                "`{}` belongs to the `{}` module, which is not enabled (PFSENSE_MODULES / --modules).",
                def.name, def.module
            ));
        }
        None
    }

    pub fn offers(&self, def: &ToolDef) -> bool {
        self.refusal(def).is_none()
    }
}
