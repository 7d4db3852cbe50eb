//! Two processes racing for a target's lock.

use std::process::{Command, Stdio};

/// Run two copies of `cmd()` at once; exactly one must exit 0 and the other
/// 3 (the lock is held). Returns the loser's stderr.
pub fn exactly_one_holds_the_lock(cmd: impl Fn() -> Command, trial: usize) -> String {
    let spawn = || {
        cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(3)],
        "trial {trial}:\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let loser = if a.status.code() == Some(3) { &a } else { &b };
    String::from_utf8_lossy(&loser.stderr).into_owned()
}
