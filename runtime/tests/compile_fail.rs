//! Programs the embedding API must refuse to compile (`trybuild`): each
//! would read or write a moved, freed or forged object if it compiled.
//! The expected compiler output is checked in beside each program
//! (`compile_fail/*.stderr`); it depends on the compiler's version, so
//! after a toolchain update regenerate it with `TRYBUILD=overwrite cargo
//! test -p runtime --test compile_fail` and review the diff.

#[test]
fn unsound_programs_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
