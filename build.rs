//! Embeds the plaintext event fixtures (`fixtures/events/*.xml`) for `wecom_callback::testing`,
//! so that tests in any crate can replay them by name.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("fixtures/events");
    println!("cargo:rerun-if-changed=fixtures/events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".xml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from(
        "/// Every plaintext event fixture: (file stem, XML).\npub(crate) const EVENT_FIXTURES: &[(&str, &str)] = &[\n",
    );
    for name in names {
        let stem = name.trim_end_matches(".xml");
        let path = dir.join(&name);
        let _ = writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("fixtures.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}
