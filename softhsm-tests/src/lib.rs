//! Test support for SoftHSM.
