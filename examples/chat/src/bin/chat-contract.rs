//! Writes the chat's contract files under `examples/chat/contract/` (`example.d.ts`,
//! `asyncapi.json`); with `--check`, exits 1 when the committed ones are stale.

fn main() -> std::process::ExitCode {
    chat::contract::files().main(chat::contract::CONTRACT_DIR)
}
