//! The typed WeCom external-contact API client (filled in by the API work).
