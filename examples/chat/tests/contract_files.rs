//! The committed contract files (`examples/chat/contract/`) are what the declarations
//! produce now: fails when they are stale (`cargo run -p chat --bin chat-contract` fixes it).

#[test]
fn committed_contract_files_are_up_to_date() {
    let stale = chat::contract::files()
        .check(chat::contract::CONTRACT_DIR)
        .expect("the chat contract is valid");
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; run `cargo run -p chat --bin chat-contract`"
    );
}

#[test]
fn a_changed_file_is_reported_stale() {
    let dir = std::env::temp_dir().join(format!("chat-contract-{}", std::process::id()));
    let files = chat::contract::files();
    files.write(&dir).unwrap();
    assert!(files.check(&dir).unwrap().is_empty());
    std::fs::write(dir.join("example.d.ts"), "// edited by hand\n").unwrap();
    let stale = files.check(&dir).unwrap();
    assert_eq!(stale.len(), 1);
    assert!(stale[0].path.ends_with("example.d.ts") && !stale[0].missing);
    std::fs::remove_file(dir.join("asyncapi.json")).unwrap();
    assert!(files.check(&dir).unwrap().iter().any(|s| s.missing));
    std::fs::remove_dir_all(&dir).unwrap();
}
