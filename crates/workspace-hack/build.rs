// Empty: it exists so that the [build-dependencies] above take part in the host features.
fn main() {}
