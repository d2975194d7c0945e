//! The host's top-level modules depend on each other one way (DESIGN.md: "layers point one
//! way, no module cycles"): reads every module's source (comments and tests left out), collects
//! the `crate::<module>` paths it names, and fails on any cycle, naming its modules and edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named by `crate::…` paths in `text`, grouped imports included.
fn named(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![&rest[..end]]
        };
        for n in names {
            if modules.contains(n) {
                found.insert(n.to_string());
            }
        }
    }
    found
}

#[test]
fn top_level_modules_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() || (name != "lib" && name != "main") {
            modules.insert(name);
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        let dir = src.join(m);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
        if src.join(format!("{m}.rs")).is_file() {
            files.push(src.join(format!("{m}.rs")));
        }
        let mut to = BTreeSet::new();
        for f in files {
            to.extend(named(&std::fs::read_to_string(&f).unwrap(), &modules));
        }
        to.remove(m);
        edges.insert(m.clone(), to);
    }
    // A module is on a cycle when it reaches itself.
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = edges[from].iter().cloned().collect();
        while let Some(m) = stack.pop() {
            if seen.insert(m.clone()) {
                stack.extend(edges[&m].iter().cloned());
            }
        }
        seen
    };
    let on_cycles: Vec<String> = modules
        .iter()
        .filter(|m| reaches(m).contains(*m))
        .cloned()
        .collect();
    let described: Vec<String> = on_cycles
        .iter()
        .map(|m| {
            let back: Vec<&String> = edges[m].iter().filter(|t| on_cycles.contains(t)).collect();
            format!("{m} -> {back:?}")
        })
        .collect();
    assert!(on_cycles.is_empty(), "module cycles: {described:#?}");
}

#[test]
fn grouped_and_nested_paths_are_read() {
    let modules: BTreeSet<String> = ["order", "money", "review"].map(String::from).into();
    let text = "use crate::{order::Order, money};\n// crate::review in a comment\nlet x = crate::money::Money;";
    assert_eq!(
        named(text, &modules),
        ["money", "order"].map(String::from).into()
    );
}
