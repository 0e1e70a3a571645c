//! Key stores of certa.
