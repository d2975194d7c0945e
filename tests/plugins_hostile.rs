//! Hostile guests: each misdeed is contained with a typed error (running wasm is stopped by
//! the epoch deadline, a host wait by the call's deadline), the plugin's failure is counted (and
//! it is switched off after repeated failures), and the host keeps serving: a good call right
//! after always works.

mod plugins_support;

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use emporium::plugins::*;
use plugins_support::*;

fn hostile(mode: &str) -> PluginRegistry {
    let reg = PluginRegistry::new(runtime());
    reg.install_dir(
        &plugin_dir("hostile"),
        InstallOptions {
            config: ConfigValues::new().with("mode", mode),
            ..Default::default()
        },
    )
    .unwrap();
    reg
}

/// How long a contained call may take before the test calls it not contained. It only stops a
/// test that would otherwise wait forever (a budget is 50 ms; a loaded machine is slow).
const NEVER: Duration = Duration::from_secs(30);

/// Runs `call` on its own thread, as the shop runs plugin calls on its blocking pool, and
/// returns its result, failing the test if it never comes back.
fn returns<T: Send + 'static>(what: &str, call: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(NEVER)
        .unwrap_or_else(|_| panic!("{what}: the call never returned"))
}

/// Runs the misbehaving call, checks it comes back, then checks a good call still works.
fn contained(mode: &str) -> PluginError {
    let reg = Arc::new(hostile(mode));
    let r = reg.clone();
    let result = returns(mode, move || {
        r.quote_shipping("hostile", &shipping_request(2))
    });
    if let Ok(quotes) = &result {
        assert!(
            quotes.iter().all(|q| !q.name.starts_with("LEAK")),
            "{mode}: {quotes:?}"
        );
    }
    let err = result.expect_err(mode);
    assert_eq!(
        err.plugin().map(|p| p.id.as_str()),
        Some("hostile"),
        "{err}"
    );
    assert!(
        err.to_string().contains("hostile@0.0.1"),
        "errors name the plugin: {err}"
    );

    reg.configure("hostile", ConfigValues::new().with("mode", "good"))
        .unwrap();
    let good = reg.quote_shipping("hostile", &shipping_request(2)).unwrap();
    assert_eq!(good[0].name, "Good");
    err
}

#[test]
fn infinite_loop_times_out() {
    let err = contained("loop");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
}

/// A guest that sleeps waits in the host (a clock subscription), where the epoch deadline
/// cannot reach: the host's wait ends at the call's deadline.
#[test]
fn sleeping_guest_times_out() {
    let err = contained("sleep");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
}

/// A guest polling a pollable that never becomes ready, over and over.
#[test]
fn polling_forever_times_out() {
    let err = contained("poll");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
}

/// Guests that wait forever, several at once: each is cut off at its budget, counted, and the
/// plugin is switched off; meanwhile another plugin answers as usual.
#[test]
fn waiting_guests_are_cut_off_counted_and_switched_off() {
    for mode in ["sleep", "poll"] {
        let reg = Arc::new(hostile(mode));
        reg.install_dir(
            &plugin_dir("flat-rate-shipping"),
            InstallOptions {
                config: ConfigValues::new().with("charge", "4.95"),
                ..Default::default()
            },
        )
        .unwrap();
        let threshold = test_config().failure_threshold;
        let (tx, rx) = mpsc::channel();
        for _ in 0..threshold {
            let (reg, tx) = (reg.clone(), tx.clone());
            std::thread::spawn(move || {
                let _ = tx.send(reg.quote_shipping("hostile", &shipping_request(1)));
            });
        }
        let good = reg
            .quote_shipping("flat-rate-shipping", &shipping_request(1))
            .unwrap();
        assert_eq!(good[0].charge_excl_tax.to_string(), "4.95");
        for _ in 0..threshold {
            let result = rx
                .recv_timeout(NEVER)
                .unwrap_or_else(|_| panic!("{mode}: a waiting guest was never cut off"));
            assert!(
                matches!(result, Err(PluginError::Timeout { .. })),
                "{mode}: {result:?}"
            );
        }
        let status = reg.status("hostile").unwrap();
        assert_eq!(status.failures, u64::from(threshold), "{mode}");
        assert!(!status.enabled, "{mode}: still enabled");
        assert!(
            matches!(&status.disabled_reason, Some(DisabledReason::Failures { count, .. }) if *count == threshold),
            "{mode}: {:?}",
            status.disabled_reason
        );
        assert!(matches!(
            reg.quote_shipping("hostile", &shipping_request(1)),
            Err(PluginError::Disabled { .. })
        ));
        assert!(
            reg.quote_shipping("flat-rate-shipping", &shipping_request(1))
                .is_ok()
        );
    }
}

#[test]
fn gigabyte_allocation_hits_the_memory_cap() {
    let err = contained("alloc");
    assert!(
        matches!(err, PluginError::OutOfMemory { limit_bytes, .. } if limit_bytes == 32 << 20),
        "{err}"
    );
}

#[test]
fn huge_output_is_rejected() {
    let err = contained("huge");
    assert!(
        matches!(&err, PluginError::MalformedOutput { reason, .. } if reason.contains("quotes")),
        "{err}"
    );
}

#[test]
fn panic_is_a_trap() {
    let err = contained("panic");
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
}

#[test]
fn no_files() {
    let err = contained("file");
    assert!(
        matches!(&err, PluginError::Guest { message, .. } if message.starts_with("file denied")),
        "{err}"
    );
}

#[test]
fn no_environment_or_arguments() {
    let err = contained("env");
    assert!(
        matches!(&err, PluginError::Guest { message, .. } if message.starts_with("env denied")),
        "{err}"
    );
}

/// No world links sockets: the guest's attempt is recorded and fails the call as denied.
#[test]
fn no_sockets() {
    // A listener the guest would reach if sockets were open.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let reg = Arc::new(hostile("net"));
    reg.configure(
        "hostile",
        ConfigValues::new()
            .with("mode", "net")
            .with("port", port.to_string()),
    )
    .unwrap();
    let r = reg.clone();
    let err = returns("net", move || {
        r.quote_shipping("hostile", &shipping_request(1))
    })
    .unwrap_err();
    assert!(
        matches!(&err, PluginError::Denied { capability, .. } if capability.starts_with("wasi:sockets/")),
        "{err}"
    );
    assert_eq!(reg.status("hostile").unwrap().failures, 1, "counted");
    assert!(listener.accept().is_err(), "the guest connected");
}

#[test]
fn negative_charge_and_foreign_currency_are_malformed() {
    let err = contained("negative");
    assert!(
        matches!(&err, PluginError::MalformedOutput { reason, .. } if reason.contains("negative")),
        "{err}"
    );
    let err = contained("currency");
    assert!(
        matches!(&err, PluginError::MalformedOutput { reason, .. } if reason.contains("XBT")),
        "{err}"
    );
}

#[test]
fn chatty_guest_is_capped_not_failed() {
    let reg = hostile("spam");
    let quotes = reg.quote_shipping("hostile", &shipping_request(1));
    // 100k lines of stdout and 100k log calls: kept to a few KiB and 64 messages. The call may
    // finish or run out of budget in a debug build, but it never brings the host down.
    match quotes {
        Ok(q) => assert_eq!(q[0].name, "Spammed"),
        Err(e) => assert!(matches!(e, PluginError::Timeout { .. }), "{e}"),
    }
}

#[test]
fn repeated_failures_switch_the_plugin_off() {
    let reg = hostile("panic");
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    reg.on_change(move |c| seen.lock().unwrap().push(c.clone()));
    let threshold = test_config().failure_threshold;
    for _ in 0..threshold {
        assert!(matches!(
            reg.quote_shipping("hostile", &shipping_request(1)),
            Err(PluginError::Trap { .. })
        ));
    }
    let status = reg.status("hostile").unwrap();
    assert!(!status.enabled);
    assert!(
        matches!(&status.disabled_reason, Some(DisabledReason::Failures { count, .. }) if *count == threshold)
    );
    assert!(matches!(
        reg.quote_shipping("hostile", &shipping_request(1)),
        Err(PluginError::Disabled { .. })
    ));
    assert!(reg.enabled_ids(ExtensionPoint::Shipping).is_empty());
    assert!(matches!(
        changes.lock().unwrap().last(),
        Some(StateChange::Disabled { .. })
    ));

    // An admin fixes the configuration and switches it back on.
    reg.configure("hostile", ConfigValues::new().with("mode", "good"))
        .unwrap();
    reg.set_enabled("hostile", true).unwrap();
    assert!(reg.quote_shipping("hostile", &shipping_request(1)).is_ok());
    assert!(matches!(
        changes.lock().unwrap().last(),
        Some(StateChange::Enabled(_))
    ));
}

#[test]
fn a_success_resets_the_failure_streak() {
    let reg = hostile("panic");
    assert!(reg.quote_shipping("hostile", &shipping_request(1)).is_err());
    assert_eq!(reg.status("hostile").unwrap().consecutive_failures, 1);
    reg.configure("hostile", ConfigValues::new().with("mode", "good"))
        .unwrap();
    assert!(reg.quote_shipping("hostile", &shipping_request(1)).is_ok());
    let status = reg.status("hostile").unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.failures, 1);
}

/// Every call gets a wiped instance: the memory slot a guest used is reset before it is reused
/// (the pooling allocator keeps slots resident and resets only dirtied pages), so neither a
/// static nor a heap block written by one customer's call is visible to the next.
#[test]
fn nothing_survives_from_one_call_to_the_next() {
    let reg = hostile("remember");
    let mut names = Vec::new();
    for call in 0..50 {
        let quotes = reg.quote_shipping("hostile", &shipping_request(2)).unwrap();
        assert!(
            quotes[0].name.starts_with("Fresh"),
            "call {call}: {quotes:?}"
        );
        names.push(quotes[0].name.clone());
    }
    // The check is only meaningful if each call's block lands where the last one's did.
    names.dedup();
    assert_eq!(names.len(), 1, "allocation addresses differ: {names:?}");
}
