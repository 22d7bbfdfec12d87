//! The code generator under `pfsense_tools!`: turns `pfsense-spec`'s operation model into the
//! tokens of the typed tool catalogue.
//!
//! A plain library (the proc-macro crate only finds the spec and reports errors), so the
//! generated code can be printed, measured and snapshot-tested (`tests/snapshots.rs`). The output
//! refers to the runtime through `::pfsense_mcp::catalog`, so it is meant to be expanded inside
//! the `pfsense-mcp` crate.

use pfsense_spec::{
    ArgRole, ArgType, ConditionTest, FieldCondition, Method, Module, Operation, PathKind, Risk,
    Spec, Verb,
};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

fn struct_name(tool: &str) -> syn::Ident {
    let base = tool.strip_prefix("pfsense_").unwrap_or(tool);
    let camel: String = base
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    format_ident!("{}Args", camel)
}

/// A Rust field name for an API field: snake case, keywords as raw identifiers.
fn field_ident(name: &str, taken: &mut Vec<String>) -> syn::Ident {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("f_{s}");
    }
    let base = s.clone();
    let mut n = 2;
    while taken.contains(&s) {
        s = format!("{base}_{n}");
        n += 1;
    }
    taken.push(s.clone());
    if syn::parse_str::<syn::Ident>(&s).is_ok() && s != "self" && s != "crate" && s != "super" {
        syn::Ident::new(&s, Span::call_site())
    } else if matches!(s.as_str(), "self" | "crate" | "super" | "Self") {
        format_ident!("{}_", s)
    } else {
        syn::Ident::new_raw(&s, Span::call_site())
    }
}

fn rust_type(ty: &ArgType, role: ArgRole) -> TokenStream {
    match role {
        ArgRole::ListBody => return quote!(::std::vec::Vec<::serde_json::Value>),
        ArgRole::Filters => {
            return quote!(::serde_json::Map<::std::string::String, ::serde_json::Value>);
        }
        _ => {}
    }
    match ty {
        ArgType::String => quote!(::std::string::String),
        ArgType::Integer => quote!(i64),
        ArgType::Number => quote!(f64),
        ArgType::Boolean => quote!(bool),
        ArgType::StringList => quote!(::std::vec::Vec<::std::string::String>),
        ArgType::IntegerList => quote!(::std::vec::Vec<i64>),
        ArgType::Json => quote!(::serde_json::Value),
    }
}

fn method_tokens(m: Method) -> TokenStream {
    match m {
        Method::Get => quote!(::pfsense_mcp::spec::Method::Get),
        Method::Post => quote!(::pfsense_mcp::spec::Method::Post),
        Method::Put => quote!(::pfsense_mcp::spec::Method::Put),
        Method::Patch => quote!(::pfsense_mcp::spec::Method::Patch),
        Method::Delete => quote!(::pfsense_mcp::spec::Method::Delete),
    }
}

fn risk_tokens(r: Risk) -> TokenStream {
    match r {
        Risk::Read => quote!(::pfsense_mcp::spec::Risk::Read),
        Risk::Write => quote!(::pfsense_mcp::spec::Risk::Write),
        Risk::Destructive => quote!(::pfsense_mcp::spec::Risk::Destructive),
        Risk::Dangerous => quote!(::pfsense_mcp::spec::Risk::Dangerous),
    }
}

fn verb_tokens(v: Verb) -> TokenStream {
    let id = format_ident!(
        "{}",
        match v {
            Verb::Get => "Get",
            Verb::List => "List",
            Verb::Create => "Create",
            Verb::Update => "Update",
            Verb::Replace => "Replace",
            Verb::Delete => "Delete",
            Verb::Action => "Action",
            Verb::Apply => "Apply",
            Verb::ApplyStatus => "ApplyStatus",
        }
    );
    quote!(::pfsense_mcp::spec::Verb::#id)
}

fn kind_tokens(k: PathKind) -> TokenStream {
    let id = format_ident!(
        "{}",
        match k {
            PathKind::Plural => "Plural",
            PathKind::Item => "Item",
            PathKind::Settings => "Settings",
            PathKind::Apply => "Apply",
            PathKind::Action => "Action",
            PathKind::ReadOnly => "ReadOnly",
            PathKind::WriteOnly => "WriteOnly",
        }
    );
    quote!(::pfsense_mcp::spec::PathKind::#id)
}

fn module_tokens(m: Module) -> TokenStream {
    let name: String = m
        .as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let id = format_ident!("{}", name);
    quote!(::pfsense_mcp::spec::Module::#id)
}

/// A field condition as the runtime reads it: its values as JSON texts.
fn condition_tokens(c: &FieldCondition) -> TokenStream {
    let field = &c.field;
    let on_parent = c.on_parent;
    let json = |v: &serde_json::Value| v.to_string();
    let test = match &c.test {
        ConditionTest::Equals(v) => {
            let v = json(v);
            quote!(::pfsense_mcp::catalog::ConditionTest::Equals(#v))
        }
        ConditionTest::NotEquals(v) => {
            let v = json(v);
            quote!(::pfsense_mcp::catalog::ConditionTest::NotEquals(#v))
        }
        ConditionTest::OneOf(vs) => {
            let vs = vs.iter().map(json);
            quote!(::pfsense_mcp::catalog::ConditionTest::OneOf(&[#(#vs),*]))
        }
        ConditionTest::NotOneOf(vs) => {
            let vs = vs.iter().map(json);
            quote!(::pfsense_mcp::catalog::ConditionTest::NotOneOf(&[#(#vs),*]))
        }
    };
    quote!(::pfsense_mcp::catalog::ArgCondition { field: #field, on_parent: #on_parent, test: #test })
}

fn role_tokens(r: ArgRole) -> TokenStream {
    match r {
        ArgRole::Field => quote!(::pfsense_mcp::spec::ArgRole::Field),
        ArgRole::Filters => quote!(::pfsense_mcp::spec::ArgRole::Filters),
        ArgRole::ListBody => quote!(::pfsense_mcp::spec::ArgRole::ListBody),
        ArgRole::Confirm => quote!(::pfsense_mcp::spec::ArgRole::Confirm),
        ArgRole::Projection => quote!(::pfsense_mcp::spec::ArgRole::Projection),
        ArgRole::Guard => quote!(::pfsense_mcp::spec::ArgRole::Guard),
    }
}

fn type_tokens(t: ArgType) -> TokenStream {
    match t {
        ArgType::String => quote!(::pfsense_mcp::spec::ArgType::String),
        ArgType::Integer => quote!(::pfsense_mcp::spec::ArgType::Integer),
        ArgType::Number => quote!(::pfsense_mcp::spec::ArgType::Number),
        ArgType::Boolean => quote!(::pfsense_mcp::spec::ArgType::Boolean),
        ArgType::StringList => quote!(::pfsense_mcp::spec::ArgType::StringList),
        ArgType::IntegerList => quote!(::pfsense_mcp::spec::ArgType::IntegerList),
        ArgType::Json => quote!(::pfsense_mcp::spec::ArgType::Json),
    }
}

fn opt_str(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// The tokens of one tool.
pub struct GeneratedTool {
    /// Items at module level: the argument struct, the typed function and its helpers.
    pub items: TokenStream,
    /// The `ToolDef` expression that becomes `TOOLS[index]`.
    pub def: TokenStream,
}

/// The tokens of the tool at `index` of the catalogue.
pub fn tool(index: usize, op: &Operation) -> GeneratedTool {
    let tool = &op.tool_name;
    let args_struct = struct_name(tool);
    let fn_name = format_ident!("{}", tool);

    let mut taken = Vec::new();
    let mut fields = Vec::new();
    for arg in op.args.iter().filter(|a| {
        !matches!(
            a.role,
            ArgRole::Confirm | ArgRole::Projection | ArgRole::Guard
        )
    }) {
        let ident = field_ident(&arg.name, &mut taken);
        let name = &arg.name;
        let ty = rust_type(&arg.ty, arg.role);
        let doc = format!("`{name}`");
        if arg.required {
            fields.push(quote! {
                #[doc = #doc]
                #[serde(rename = #name)]
                pub #ident: #ty
            });
        } else {
            fields.push(quote! {
                #[doc = #doc]
                #[serde(rename = #name, skip_serializing_if = "::core::option::Option::is_none")]
                pub #ident: ::core::option::Option<#ty>
            });
        }
    }
    let struct_doc = format!("Arguments of `{tool}` ({} {}).", op.method, op.path);
    let fn_doc = format!("{} ({} {})", op.description, op.method, op.path);

    // Only what a typed caller needs is per tool: the struct (its `Serialize` is instantiated
    // once, by the typed function) and a one-line function. Checking and normalising JSON
    // arguments is one shared, data-driven function over `ArgDef` (see `catalog::normalize_args`),
    // so no tool carries a `Deserialize` impl or its own monomorphised serde_json code.
    let items = quote! {
        #[doc = #struct_doc]
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::serde::Serialize)]
        pub struct #args_struct { #(#fields,)* }

        #[doc = #fn_doc]
        // `inline`: compiled (with its struct's `Serialize`) only in a crate that calls it;
        // the server dispatches through `TOOLS`, so the 677 functions cost it nothing.
        #[inline]
        pub fn #fn_name<'a>(
            client: &'a ::pfsense_mcp::client::Client,
            args: &#args_struct,
        ) -> ::pfsense_mcp::catalog::CallFuture<'a> {
            ::pfsense_mcp::catalog::call_typed(client, &TOOLS[#index], args)
        }
    };

    let method = method_tokens(op.method);
    let path = &op.path;
    let verb = verb_tokens(op.verb);
    let kind = kind_tokens(op.path_kind);
    let module = module_tokens(op.module);
    let risk = risk_tokens(op.risk);
    let danger = opt_str(&op.danger);
    let model = &op.model;
    let parent_model = opt_str(&op.parent_model);
    let summary = &op.summary;
    let description = &op.description;
    let schema = serde_json::to_string(&op.input_schema).unwrap_or_else(|_| "{}".into());
    let listed_schema = serde_json::to_string(&op.listed_schema).unwrap_or_else(|_| "{}".into());
    let applies_immediately = match op.applies_immediately {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let apply = match &op.apply {
        Some(a) => {
            let (subsystem, apath, tool, status) =
                (&a.subsystem, &a.path, &a.apply_tool, &a.status_tool);
            quote!(::core::option::Option::Some(::pfsense_mcp::catalog::ApplyStep {
                subsystem: #subsystem, path: #apath, tool: #tool, status_tool: #status,
            }))
        }
        None => quote!(::core::option::Option::None),
    };
    let packages = &op.required_packages;
    let basic_only = op.basic_auth_only;
    let binary = op.binary_response;
    let enveloped = op.enveloped;
    let args: Vec<TokenStream> = op
        .args
        .iter()
        .map(|a| {
            let (name, required, sensitive) = (&a.name, a.required, a.sensitive);
            let resettable = a.resettable;
            let role = role_tokens(a.role);
            let ty = type_tokens(a.ty);
            quote!(::pfsense_mcp::catalog::ArgDef { name: #name, required: #required, role: #role, ty: #ty, sensitive: #sensitive, resettable: #resettable })
        })
        .collect();
    let secrets: Vec<TokenStream> = op
        .args
        .iter()
        .filter(|a| a.sensitive)
        .map(|a| {
            let (name, required_when) = (&a.name, a.required_when_available);
            let when = a.conditions.iter().map(condition_tokens);
            quote!(::pfsense_mcp::catalog::SecretArg { name: #name, required_when_available: #required_when, when: &[#(#when),*] })
        })
        .collect();
    let op_id = &op.operation_id;
    let def = quote! {
        ::pfsense_mcp::catalog::ToolDef {
            name: #tool,
            operation_id: #op_id,
            method: #method,
            path: #path,
            path_kind: #kind,
            verb: #verb,
            model: #model,
            parent_model: #parent_model,
            module: #module,
            risk: #risk,
            danger: #danger,
            applies_immediately: #applies_immediately,
            apply: #apply,
            required_packages: &[#(#packages),*],
            basic_auth_only: #basic_only,
            binary_response: #binary,
            enveloped: #enveloped,
            summary: #summary,
            description: #description,
            input_schema: #schema,
            listed_schema: #listed_schema,
            args: &[#(#args),*],
            secrets: &[#(#secrets),*],
        }
    };
    GeneratedTool { items, def }
}

/// The whole catalogue: the spec's version and title, each tool's items, and
/// `static TOOLS: [ToolDef; N]` (sorted by name, as `Spec` orders its operations).
pub fn catalog(spec: &Spec) -> TokenStream {
    let generated: Vec<GeneratedTool> = spec
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| tool(i, op))
        .collect();
    let items = generated.iter().map(|g| &g.items);
    let defs = generated.iter().map(|g| &g.def);
    let count = spec.operations.len();
    let version = &spec.api_version;
    let title = &spec.title;
    quote! {
        /// `info.version` of the spec, e.g. `v2.7.1`.
        pub const SPEC_VERSION: &str = #version;
        /// `info.title` of the spec.
        pub const SPEC_TITLE: &str = #title;

        #(#items)*

        /// Every generated tool, sorted by name.
        pub static TOOLS: [::pfsense_mcp::catalog::ToolDef; #count] = [#(#defs),*];
    }
}
