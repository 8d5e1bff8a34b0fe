//! Compile tests: what the macros accept (`pass/`) and the errors they give (`ui/`).
//! Refresh the expected errors with `TRYBUILD=overwrite cargo test -p sockgate-macros`, then
//! review the diff. Most `.stderr` files hold the macros' own messages; `handler_bad_types`,
//! `handler_not_extractor` and `hook_argument_type` hold rustc's (an unsatisfied bound or a
//! mismatched type, reported on the user's type), which change with the toolchain and with
//! the list of `FromMessageParts` / `IntoWsReply` implementations.

#[test]
fn compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
