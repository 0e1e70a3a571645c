//! The certa command.
fn main() {}
