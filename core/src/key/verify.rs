//! Signature verification for CSRs and for what the CA signs.
