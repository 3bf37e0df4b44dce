//! mailcall's black-box tests, in one binary so the suite links once.
//!
//! Each module is a chapter of the specification: it drives the real binary
//! (or the library's public adapters) against temporary data directories.

mod it;
