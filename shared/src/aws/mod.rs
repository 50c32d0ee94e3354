//! AWS client setup.
