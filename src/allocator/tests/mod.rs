//! Allocator tests that span the module: spec vectors, the property suite against the model
//! of v0.9, memory and the quirks worth naming.

mod model;

mod memory;
mod proptests;
mod quirks;
mod support;
mod vectors;
