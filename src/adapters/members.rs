//! The built-in members. (Being written.)
