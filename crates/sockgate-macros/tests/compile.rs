//! Compile tests: what the macros accept (`pass/`) and the errors they give (`ui/`).
//! Refresh the expected errors with `TRYBUILD=overwrite cargo test -p sockgate-macros`.

#[test]
fn compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
