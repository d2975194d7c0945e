//! WIT glue for {{id}}: lists the template helpers and runs them. Arguments arrive as a JSON
//! array and the result leaves as JSON text.

mod logic;
mod money;

wit_bindgen::generate!({
    path: "wit",
    world: "{{world}}",
});

use emporium::plugin::host::config_get;
use emporium::plugin::types::PluginError;
use exports::emporium::plugin::theme::{FunctionInfo, FunctionKind, Guest};

struct Plugin;

impl Guest for Plugin {
    fn functions() -> Vec<FunctionInfo> {
        logic::HELPERS
            .iter()
            .map(|(name, is_filter, help)| FunctionInfo {
                name: (*name).into(),
                kind: if *is_filter {
                    FunctionKind::Filter
                } else {
                    FunctionKind::Function
                },
                help: (*help).into(),
            })
            .collect()
    }

    fn call(name: String, args_json: String) -> Result<String, PluginError> {
        let separator = config_get("thousands_separator").unwrap_or_else(|| ",".into());
        let args = logic::parse_args(&args_json).map_err(PluginError::InvalidInput)?;
        logic::call(&separator, &name, &args).map_err(PluginError::InvalidInput)
    }
}

export!(Plugin);
