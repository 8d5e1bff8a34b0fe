//! Compile tests of typed events (`sockgate::typed`): declared emits and handlers compile
//! (`typed_pass/`); an undeclared event, a wrong payload, an ack an event does not declare, a
//! direction an event does not travel and bad `#[event]` / `#[contract]` attributes do not
//! (`typed_ui/`). Refresh with `TRYBUILD=overwrite cargo test -p sockgate-macros --test
//! typed_compile`, then review the diff: most messages are rustc's (unsatisfied bounds,
//! mismatched types) and change with the toolchain.

#[test]
fn typed_compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/typed_pass/*.rs");
    t.compile_fail("tests/typed_ui/*.rs");
}
