//! A stand-in for the pfSense REST API (see README).
