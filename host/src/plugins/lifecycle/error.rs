//! The one error type of plugin lifecycle operations: the runtime's, the directory's and the
//! package's errors, the database's, and the refusals of the operations themselves.

use crate::plugins::distribution::directory::DirectoryError;
use crate::plugins::distribution::manifest::FieldError;
use crate::plugins::distribution::package::PackageError;
use crate::plugins::runtime::PluginError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("plugin {0:?} is not installed")]
    NotInstalled(String),
    #[error("plugin {id} {installed} is already installed (use `upgrade` to change versions)")]
    AlreadyInstalled { id: String, installed: String },
    #[error("plugin {id} is already at {installed}; the newest available is {available}")]
    UpToDate {
        id: String,
        installed: String,
        available: String,
    },
    #[error("upgrading {id} to {to} failed, {from} stays installed: {source}")]
    UpgradeFailed {
        id: String,
        from: String,
        to: String,
        #[source]
        source: Box<ServiceError>,
    },
    #[error("plugin {0} has no earlier version to roll back to")]
    NothingToRollBack(String),
    /// A plugin that asks for outgoing HTTP runs only once an administrator approved at least
    /// one of the hosts it declares.
    #[error(
        "plugin {id} calls {}: approve its hosts before enabling it (`--allow-host`, or the \
         dashboard's permissions form)",
        hosts.join(", ")
    )]
    PermissionsNotApproved { id: String, hosts: Vec<String> },
    /// The shop prices with one strategy at a time.
    #[error("pricing strategy {enabled} is already enabled; disable it before enabling {id}")]
    OnePricingStrategy { id: String, enabled: String },
    #[error("{0}")]
    Other(String),
}

impl ServiceError {
    /// The configuration field errors, when the operation failed on invalid configuration.
    pub fn field_errors(&self) -> Option<&[FieldError]> {
        match self {
            ServiceError::Plugin(PluginError::Config { errors, .. }) => Some(errors),
            ServiceError::UpgradeFailed { source, .. } => source.field_errors(),
            _ => None,
        }
    }
}
