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
    /// Interrupted by SIGINT/SIGTERM (after restoring).
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The worse of two outcomes: restore failed > interrupted > invalid > failed > ok.
    /// A failed restore wins over an interruption: the environment may still be faulty,
    /// and that is what the pipeline must see.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Success => 0,
                ExitCode::ExpectationFailed => 1,
                ExitCode::InvalidInput => 2,
                ExitCode::Interrupted => 3,
                ExitCode::RestoreFailed => 4,
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
    }
}
