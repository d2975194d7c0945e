//! A guest that misbehaves in the way its `mode` config says, so the tests can check that the
//! host contains each misdeed with a typed error and keeps going. Every "pry" mode reports what
//! it could see: a leak shows up as a quote named `LEAK ...`, which the tests look for.

use std::hint::black_box;

use emporium_plugin_sdk::shipping::ShippingRequest;
use emporium_plugin_sdk::{Money, PluginError, ShippingMethod, ShippingQuote, config};

fn quote(name: &str, amount: &str, currency: &str) -> ShippingQuote {
    ShippingQuote {
        code: "q".into(),
        name: name.into(),
        description: String::new(),
        charge_excl_tax: Money {
            amount: amount.into(),
            currency: currency.into(),
        },
        charge_incl_tax: Money {
            amount: amount.into(),
            currency: currency.into(),
        },
    }
}

fn leak_or(
    result: Result<String, String>,
    what: &str,
    currency: &str,
) -> Result<Vec<ShippingQuote>, PluginError> {
    match result {
        Ok(seen) => Ok(vec![quote(&format!("LEAK {what}: {seen}"), "0", currency)]),
        Err(e) => Err(PluginError::Internal(format!("{what} denied: {e}"))),
    }
}

/// Calls this instance has seen; every call gets a fresh instance, so it must read 0.
static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// A heap block left behind on purpose, with a marker a later instance could find.
static LEFT_BEHIND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const MARKER: u64 = 0x5EC2_E7DA_7A5E_C2E7;

struct Hostile;

impl ShippingMethod for Hostile {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        let currency = request.basket.currency.clone();
        match config::string_or("mode", "good").as_str() {
            "good" => Ok(vec![quote("Good", "1.00", &currency)]),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            // Sleeps for an hour: std's sleep is a monotonic-clock subscription the host waits
            // on, outside wasm, where the epoch deadline cannot interrupt it.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(vec![quote("Slept", "1.00", &currency)])
            }
            // Waits on a pollable that never becomes ready (a clock subscription too far in the
            // future for the host to schedule), again and again, with both ways of waiting.
            "poll" => loop {
                let never = wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX);
                wasip2::io::poll::poll(&[&never]);
                never.block();
            },
            "alloc" => {
                let big = vec![7u8; 1 << 30];
                Ok(vec![quote(
                    "never",
                    &black_box(big).len().to_string(),
                    &currency,
                )])
            }
            // About 2 MiB of output: 1000 quotes with 2 KiB descriptions each.
            "huge" => Ok((0..1000)
                .map(|i| ShippingQuote {
                    description: "x".repeat(2048),
                    ..quote(&format!("method {i}"), "1.00", &currency)
                })
                .collect()),
            "panic" => panic!("hostile guest panics on purpose"),
            "file" => leak_or(
                std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string()),
                "file",
                &currency,
            ),
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                if vars.is_empty() && args.is_empty() {
                    leak_or(Err("no variables, no arguments".into()), "env", &currency)
                } else {
                    leak_or(Ok(format!("{vars:?} {args:?}")), "env", &currency)
                }
            }
            "net" => {
                let port = config::integer_or("port", 9)?;
                leak_or(
                    std::net::TcpStream::connect(("127.0.0.1", port as u16))
                        .map(|_| "connected".to_string())
                        .map_err(|e| e.to_string()),
                    "net",
                    &currency,
                )
            }
            // Looks for what an earlier call left in memory: a static counter, and a heap
            // block. Guest execution is deterministic, so this call's first allocation lands
            // where the last call's did: if the slot was not wiped, the old marker is there.
            "remember" => {
                let before = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let layout = std::alloc::Layout::from_size_align(8 * 512, 8).expect("layout");
                // SAFETY: a fresh, non-zero-sized allocation; it is read as raw words before it
                // is written (on purpose: that is what a leak would show) and then leaked.
                let found = unsafe {
                    let block = std::alloc::alloc(layout).cast::<u64>();
                    let found = (0..512)
                        .filter(|i| core::ptr::read_volatile(block.add(*i)) == MARKER)
                        .count();
                    for i in 0..512 {
                        core::ptr::write_volatile(block.add(i), MARKER);
                    }
                    LEFT_BEHIND.store(block as usize, std::sync::atomic::Ordering::SeqCst);
                    found
                };
                let at = LEFT_BEHIND.load(std::sync::atomic::Ordering::SeqCst);
                let name = if before == 0 && found == 0 {
                    format!("Fresh, block at {at}")
                } else {
                    format!("LEAK memory: {before} earlier calls, {found} marker words")
                };
                Ok(vec![quote(&name, "1.00", &currency)])
            }
            "negative" => Ok(vec![quote("Refund me", "-5.00", &currency)]),
            "currency" => Ok(vec![quote("Wrong money", "5.00", "XBT")]),
            "spam" => {
                for i in 0..100_000 {
                    println!("spam line {i}");
                    emporium_plugin_sdk::log::info("spam");
                }
                Ok(vec![quote("Spammed", "1.00", &currency)])
            }
            other => Err(PluginError::Config(format!("unknown mode {other:?}"))),
        }
    }
}

emporium_plugin_sdk::export_shipping!(Hostile);
