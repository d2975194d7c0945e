//! The `theme-extension` world.

use crate::PluginError;

pub use bindings::exports::emporium::plugin::theme::{FunctionInfo, FunctionKind};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "theme-extension",
        additional_derives: [PartialEq],
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::theme::bindings",
    });
}

/// A theme extension: template filters and functions. Arguments and results are JSON text.
pub trait ThemeExtension {
    fn functions() -> Vec<FunctionInfo>;
    fn call(name: String, args_json: String) -> Result<String, PluginError>;
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: ThemeExtension> bindings::exports::emporium::plugin::theme::Guest for Adapter<T> {
    fn functions() -> Vec<FunctionInfo> {
        T::functions()
    }
    fn call(name: String, args_json: String) -> Result<String, PluginError> {
        T::call(name, args_json)
    }
}

/// Registers a [`ThemeExtension`]: `emporium_plugin_sdk::export_theme!(MyExtension);`
#[macro_export]
macro_rules! export_theme {
    ($plugin:ty) => {
        type __EmporiumThemeExport = $crate::theme::Adapter<$plugin>;
        $crate::theme::bindings::export!(__EmporiumThemeExport with_types_in $crate::theme::bindings);
    };
}
