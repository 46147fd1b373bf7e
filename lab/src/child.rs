//! Child processes of the lab (registry, containerd, Prometheus, Alertmanager) die with it.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Make the child of `cmd` get SIGKILL when the lab process dies (even by SIGKILL), so a
/// crashed test never leaves a registry or containerd running behind.
#[expect(unsafe_code, reason = "pre_exec is the only way to set PR_SET_PDEATHSIG in the child")]
pub(crate) fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: between fork and exec the closure only calls prctl(2), which is
    // async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        })
    }
}
