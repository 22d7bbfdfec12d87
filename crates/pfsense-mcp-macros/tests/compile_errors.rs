//! A spec that is missing, malformed, or whose operations collide on a tool name fails the
//! build with an error that names the file and the operation.

use std::path::Path;

#[test]
fn spec_problems_fail_the_build_with_a_clear_message() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (case, spec) in [
        ("missing_spec", "does-not-exist.json"),
        ("malformed_spec", "malformed.json"),
        ("colliding_names", "collision.json"),
    ] {
        // SAFETY: this test binary runs this one test; nothing reads the environment
        // concurrently. trybuild's cargo (and so the macro) inherits the variable.
        unsafe { std::env::set_var("PFSENSE_OPENAPI_SPEC", fixtures.join(spec)) };
        let t = trybuild::TestCases::new();
        t.compile_fail(format!("tests/ui/{case}.rs"));
        drop(t);
    }
}
