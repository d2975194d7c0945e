//! Communication with customers beside the emails themselves (which `mail` renders and
//! delivers): the in-site notifications inbox ([`notifications`]), the email history an
//! account can read back ([`history`]), and the staff edits of the theme's email templates
//! ([`email_templates`]).
//!
//! Notifications and history rows belong to an account by its id, set by the code that knows
//! the account (the order's customer, the account changing its password), never matched by an
//! email address: registering proves no address, so an address alone proves nothing.

pub mod email_templates;
pub mod history;
pub mod notifications;
