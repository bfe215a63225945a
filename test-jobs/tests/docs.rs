//! docs/test-jobs.md carries the catalogue's reference as the catalogue generates it.

use chorale_test_jobs::Catalogue;

const BEGIN: &str = "<!-- catalogue:begin (generated; see test-jobs/tests/docs.rs) -->\n";
const END: &str = "<!-- catalogue:end -->\n";

#[test]
fn the_documented_catalogue_is_the_catalogue() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/test-jobs.md");
    let docs = std::fs::read_to_string(&path).expect("docs/test-jobs.md exists");
    let start = docs.find(BEGIN).expect("the begin marker") + BEGIN.len();
    let end = docs.find(END).expect("the end marker");
    let generated = format!("\n{}", Catalogue::builtin().reference_markdown());
    if docs[start..end] == generated {
        return;
    }
    if std::env::var_os("CHORALE_UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &docs[..start], &docs[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "docs/test-jobs.md is stale; run `CHORALE_UPDATE_DOCS=1 cargo test -p chorale-test-jobs --test docs`\n\nexpected:\n{generated}"
    );
}
