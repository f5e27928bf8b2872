//! Output formats shared by the commands: the versioned JSON envelope ([`json`]) and
//! terminal-safe text ([`text`]).

pub mod heapsnapshot;
pub mod html;
pub mod json;
pub mod svg;
pub mod text;
