//! Number printing exactly like C's `printf("%g")` (precision 6).
//!
//! clox prints numbers with `printf("%g", value)`; programs compare output
//! with it byte for byte, so this follows the C standard's rule for `%g`:
//! with precision P = 6 and X the decimal exponent the value has after
//! rounding to P significant digits, use `%e` style when `X < -4 || X >= P`,
//! otherwise `%f` style with `P - 1 - X` fraction digits; then drop trailing
//! zeros and a trailing decimal point. Digits come from Rust's exact
//! (correctly rounded, ties-to-even on exact decimal ties) float formatting,
//! the same rounding glibc applies; the unit tests compare against the C
//! library itself.

use std::io::Write;

/// Significant digits of `%g` without an explicit precision.
const PRECISION: i32 = 6;

/// Appends `n` formatted as C's `printf("%g", n)` would print it.
pub fn write_number(out: &mut Vec<u8>, n: f64) {
    if n.is_nan() {
        // Every NaN is canonicalised (positive) when boxed, so clox's "-nan"
        // for x86's default NaN never shows: demo-vm prints "nan".
        out.extend_from_slice(b"nan");
        return;
    }
    if n.is_sign_negative() {
        out.push(b'-');
    }
    let a = n.abs();
    if a.is_infinite() {
        out.extend_from_slice(b"inf");
        return;
    }
    if a == 0.0 {
        out.push(b'0');
        return;
    }
    // `{:.5e}` rounds to 6 significant digits: its exponent is the X of the
    // C standard's rule.
    let mut sci = [0u8; 32];
    let sci_len = {
        let mut cursor = std::io::Cursor::new(&mut sci[..]);
        // A 6-digit mantissa and an exponent of at most 3 digits always fit.
        let _ = write!(cursor, "{:.*e}", (PRECISION - 1) as usize, a);
        cursor.position() as usize
    };
    let sci = &sci[..sci_len];
    let e_pos = sci.iter().position(|&c| c == b'e').unwrap_or(sci.len());
    let exp = parse_exponent(&sci[e_pos.saturating_add(1).min(sci.len())..]);
    if !(-4..PRECISION).contains(&exp) {
        push_trimmed(out, &sci[..e_pos]);
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        let _ = write!(out, "{e}");
    } else {
        let frac_digits = (PRECISION - 1 - exp) as usize;
        let start = out.len();
        let _ = write!(out, "{:.*}", frac_digits, a);
        let fixed = out.split_off(start);
        push_trimmed(out, &fixed);
    }
}

/// Formats `n` like `printf("%g")` into a new string.
pub fn format_number(n: f64) -> String {
    let mut v = Vec::with_capacity(16);
    write_number(&mut v, n);
    // Only ASCII digits, signs, '.', 'e', "inf" and "nan" are ever written.
    String::from_utf8_lossy(&v).into_owned()
}

/// Parses the exponent digits Rust writes after `e` (`5`, `-7`, `300`).
fn parse_exponent(digits: &[u8]) -> i32 {
    let (neg, digits) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    let mut e: i32 = 0;
    for &d in digits {
        e = e * 10 + i32::from(d.wrapping_sub(b'0'));
    }
    if neg {
        -e
    } else {
        e
    }
}

/// Appends `digits` without trailing fractional zeros or a bare point.
fn push_trimmed(out: &mut Vec<u8>, digits: &[u8]) {
    let mut end = digits.len();
    if digits.contains(&b'.') {
        while end > 0 && digits[end - 1] == b'0' {
            end -= 1;
        }
        if end > 0 && digits[end - 1] == b'.' {
            end -= 1;
        }
    }
    out.extend_from_slice(&digits[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the C library prints for `printf("%g", n)`.
    fn c_printf_g(n: f64) -> String {
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is 64 bytes, snprintf writes at most that many
        // (NUL included), and the format takes exactly one double.
        let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%g".as_ptr(), n) };
        String::from_utf8_lossy(&buf[..len as usize]).into_owned()
    }

    #[test]
    fn prints_integers_without_a_fraction() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(-3.0), "-3");
        assert_eq!(format_number(123456.0), "123456");
        assert_eq!(format_number(0.0), "0");
    }

    #[test]
    fn prints_negative_zero_with_its_sign() {
        assert_eq!(format_number(-0.0), "-0");
    }

    #[test]
    fn switches_to_exponent_form_at_a_million() {
        assert_eq!(format_number(999999.0), "999999");
        assert_eq!(format_number(1000000.0), "1e+06");
        assert_eq!(format_number(1e7), "1e+07");
        assert_eq!(format_number(1234567.0), "1.23457e+06");
        assert_eq!(format_number(9999995.0), "1e+07");
    }

    #[test]
    fn switches_to_exponent_form_below_ten_to_the_minus_four() {
        assert_eq!(format_number(0.0001), "0.0001");
        assert_eq!(format_number(0.00001), "1e-05");
        assert_eq!(format_number(0.000015), "1.5e-05");
    }

    #[test]
    fn rounds_to_six_significant_digits() {
        assert_eq!(format_number(std::f64::consts::PI), "3.14159");
        assert_eq!(format_number(2.0 / 3.0), "0.666667");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(999999.5), "1e+06");
    }

    #[test]
    fn prints_infinities_and_nan_like_c() {
        assert_eq!(format_number(f64::INFINITY), "inf");
        assert_eq!(format_number(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_number(f64::NAN), "nan");
    }

    #[test]
    fn prints_three_digit_exponents() {
        assert_eq!(format_number(1e300), "1e+300");
        assert_eq!(format_number(f64::MAX), "1.79769e+308");
        assert_eq!(format_number(5e-324), "4.94066e-324");
    }

    #[test]
    fn matches_c_on_hand_picked_edge_cases() {
        let cases = [
            0.5,
            1.5,
            2.5,
            0.125,
            1e-4,
            9.99999e-5,
            9.999995e-5,
            0.00012345678,
            123456.5,
            1234565.0,
            100000.0,
            1e15,
            1e16,
            1e21,
            1e22,
            0.3,
            1.0 / 3.0,
            1e-310,
            12.5,
            1.25e-7,
            4.35,
            2.675,
            1.0000005,
            999999.4999,
            8.5,
            0.000125,
        ];
        for n in cases {
            assert_eq!(format_number(n), c_printf_g(n), "for {n:e}");
            assert_eq!(format_number(-n), c_printf_g(-n), "for {:e}", -n);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn matches_c_printf_on_any_finite_double(bits in any::<u64>()) {
            let n = f64::from_bits(bits);
            prop_assume!(!n.is_nan());
            prop_assert_eq!(format_number(n), c_printf_g(n));
        }

        #[test]
        fn matches_c_printf_on_short_decimals(m in -10_000_000i64..10_000_000, e in -12i32..12) {
            let n = m as f64 * 10f64.powi(e);
            prop_assert_eq!(format_number(n), c_printf_g(n));
        }

        #[test]
        fn matches_c_printf_on_ties(m in 0u64..2_000_000, e in -8i32..8) {
            // Values with a 5 right after the sixth digit probe round-half-even.
            let n = (m as f64 * 10.0 + 5.0) * 10f64.powi(e);
            prop_assert_eq!(format_number(n), c_printf_g(n));
        }
    }
}
