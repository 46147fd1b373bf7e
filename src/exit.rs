//! Exit codes, mapped in one place. Documented in the README ("Exit codes").

/// The process exit code of `acr-chaos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum ExitCode {
    /// Every scenario passed (or: the command did what was asked).
    Success = 0,
    /// At least one expectation failed (a scenario, its recovery or an alert assertion).
    ExpectationFailed = 1,
    /// Invalid input or configuration, or a guard rail refused the run.
    InvalidInput = 2,
    /// A restore failed: the environment may still be faulty. Run `acr-chaos recover`.
    RestoreFailed = 3,
    /// `acr-chaos diff` (or `run --baseline`) found regressions against the baseline:
    /// a verdict, cause, error signature, timing or scenario set changed beyond what the
    /// baseline accepts. Distinct from 1: every scenario may have passed.
    RegressionsFound = 4,
    /// Interrupted by SIGINT/SIGTERM (after restoring).
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The worse of two outcomes: restore failed > interrupted > invalid > regressions >
    /// failed > ok. A failed restore wins over an interruption: the environment may still
    /// be faulty, and that is what the pipeline must see. Regressions win over a failed
    /// expectation: a scenario that fails where the baseline passed is a regression; one
    /// that failed the same way in the baseline stays 1.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Success => 0,
                ExitCode::ExpectationFailed => 1,
                ExitCode::RegressionsFound => 2,
                ExitCode::InvalidInput => 3,
                ExitCode::Interrupted => 4,
                ExitCode::RestoreFailed => 5,
            }
        }
        if rank(other) > rank(self) { other } else { self }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ExitCode::Success => "all scenarios passed",
            ExitCode::ExpectationFailed => "an expectation failed",
            ExitCode::InvalidInput => "invalid input or configuration, or a guard rail refused",
            ExitCode::RestoreFailed => {
                "a restore failed: the environment may still be faulty (run `acr-chaos recover`)"
            }
            ExitCode::RegressionsFound => "regressions found against the baseline",
            ExitCode::Interrupted => "interrupted (changes were restored)",
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_outcomes() {
        use ExitCode::*;
        assert_eq!(Success.worst(ExpectationFailed), ExpectationFailed);
        assert_eq!(RestoreFailed.worst(ExpectationFailed), RestoreFailed);
        assert_eq!(Interrupted.worst(RestoreFailed), RestoreFailed);
        assert_eq!(InvalidInput.worst(Success), InvalidInput);
        assert_eq!(Interrupted.code(), 130);
        assert_eq!(ExpectationFailed.worst(RegressionsFound), RegressionsFound);
        assert_eq!(RegressionsFound.worst(InvalidInput), InvalidInput);
        assert_eq!(RegressionsFound.code(), 4);
    }
}
