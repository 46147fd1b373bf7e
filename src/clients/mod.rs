//! See the design: ../shared/design/architecture.md §2.
