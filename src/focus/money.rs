//! Exact money.
//!
//! Line items arrive as decimal text (CSV) or doubles (Parquet). Each one is converted once,
//! on read, to an integer count of pico-units (10⁻¹² of the currency unit) and every sum after
//! that is integer arithmetic, so 10⁸ rows and billion-dollar totals add up without drift.
//! Stored facts keep nano-units (10⁻⁹): a daily fact is rounded once, which bounds the
//! difference to the export's own total at 5·10⁻¹⁰ per fact, far inside the 0.01 tolerance.

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub};

use serde::{Serialize, Serializer};

/// Pico-units per nano-unit: the scale between what ingest sums and what the store keeps.
pub const PICOS_PER_NANO: i128 = 1_000;
/// Nano-units per currency unit.
pub const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// One cent in nano-units: the reconciliation tolerance.
pub const ONE_CENT: Money = Money(NANOS_PER_UNIT / 100);

/// An exact amount in nano-units of one currency. The currency travels beside it: adding two
/// `Money` values is only done for rows already grouped by currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i128);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_nanos(nanos: i128) -> Self {
        Money(nanos)
    }

    /// Rounds a pico-unit sum half away from zero to nano-units.
    pub fn from_picos(picos: i128) -> Self {
        let half = PICOS_PER_NANO / 2;
        let rounded = if picos >= 0 { (picos + half) / PICOS_PER_NANO } else { (picos - half) / PICOS_PER_NANO };
        Money(rounded)
    }

    pub fn nanos(self) -> i128 {
        self.0
    }

    /// The value as `i64` nano-units for the store. ±9.2 billion per fact row is far beyond
    /// one day of one service in one account; an overflow is reported, never wrapped.
    pub fn to_stored(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    pub fn abs(self) -> Self {
        Money(self.0.abs())
    }

    /// Parses the exact decimal text written by [`Money::fmt`] or the store (`-12.5`, `3`).
    pub fn parse_decimal(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty()
            || fraction.len() > 9
            || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let mut frac_nanos: i128 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
        frac_nanos *= 10_i128.pow(9 - fraction.len() as u32);
        let nanos = whole.checked_mul(NANOS_PER_UNIT)?.checked_add(frac_nanos)?;
        Some(Money(if negative { -nanos } else { nanos }))
    }

    /// `self / whole` as a fraction (0.25 for a quarter); `None` when `whole` is zero.
    pub fn fraction_of(self, whole: Money) -> Option<f64> {
        (whole != Money::ZERO).then(|| self.0 as f64 / whole.0 as f64)
    }

    /// A change in cents with its sign: `+1,234.00`, `-5.00`, `0.00`.
    pub fn display_signed_cents(self) -> String {
        if self > Money::ZERO { format!("+{}", self.display_cents()) } else { self.display_cents() }
    }

    /// Rounded to cents, with thousands separators: what a finance reader expects in a table.
    pub fn display_cents(self) -> String {
        let cent_nanos = NANOS_PER_UNIT / 100;
        let half = cent_nanos / 2;
        let cents = if self.0 >= 0 { (self.0 + half) / cent_nanos } else { (self.0 - half) / cent_nanos };
        let sign = if cents < 0 { "-" } else { "" };
        let cents = cents.abs();
        let whole = (cents / 100).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        format!("{sign}{grouped}.{:02}", cents % 100)
    }
}

/// Pico-units (10⁻¹² of a currency unit) per unit: the scale line items are summed at.
const PICO_DIGITS: i64 = 12;

/// Parses a number as exports write it (`12.34`, `-0.5`, `+3`, `.5`, `5.6E-05`) into exact
/// pico-units, rounding half away from zero past the twelfth decimal. Going through `f64`
/// would cost up to a nano-unit per line item; this is exact for any number of digits.
/// `None` when the text is not a finite decimal number or its value does not fit.
pub fn parse_picos(text: &[u8]) -> Option<i128> {
    let (negative, magnitude) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let picos = plain_picos(magnitude).or_else(|| any_picos(magnitude))?;
    Some(if negative { -picos } else { picos })
}

/// The form almost every export writes (`12.345`: at most 18 digits and 12 decimals, no
/// exponent, unsigned) in one pass of integer arithmetic; `None` sends anything else to
/// [`any_picos`].
fn plain_picos(digits: &[u8]) -> Option<i128> {
    let (mut value, mut count, mut decimals): (u64, u32, Option<u32>) = (0, 0, None);
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                value = value * 10 + u64::from(byte - b'0');
                count += 1;
                if count > 18 {
                    return None;
                }
                if let Some(decimals) = &mut decimals {
                    *decimals += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            _ => return None,
        }
    }
    let decimals = decimals.unwrap_or(0);
    if count == 0 || decimals > PICO_DIGITS as u32 {
        return None;
    }
    Some(i128::from(value) * 10_i128.pow(PICO_DIGITS as u32 - decimals))
}

/// Any unsigned decimal number, with an exponent and any number of digits.
fn any_picos(rest: &[u8]) -> Option<i128> {
    let (number, exponent) = match rest.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (whole, fraction) = match number.iter().position(|&b| b == b'.') {
        Some(at) => (&number[..at], &number[at + 1..]),
        None => (number, &b""[..]),
    };
    if whole.is_empty() && fraction.is_empty() || !whole.iter().chain(fraction).all(u8::is_ascii_digit) {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(digits) => {
            let (sign, digits) = match digits.first() {
                Some(b'-') => (-1, &digits[1..]),
                Some(b'+') => (1, &digits[1..]),
                _ => (1, digits),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            // Past ±10⁶ the value is zero or overflows either way; clamping keeps the sums small.
            sign * digits.iter().fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1_000_000))
        }
    };
    // The significant digits, read across the decimal point without copying them.
    let leading_zeros = whole.iter().chain(fraction).take_while(|&&d| d == b'0').count();
    let significant = whole.len() + fraction.len() - leading_zeros;
    let digit = |position: usize| {
        let at = leading_zeros + position;
        if at < whole.len() { whole[at] } else { fraction[at - whole.len()] }
    };
    // The pico-unit count ends `keep` significant digits in (past their end: zeros).
    let keep = (whole.len() as i64 - leading_zeros as i64) + exponent + PICO_DIGITS;
    let keep = keep.min(significant as i64 + 40);
    let mut picos: i128 = 0;
    for position in 0..keep.max(0) as usize {
        let value = if position < significant { i128::from(digit(position) - b'0') } else { 0 };
        picos = picos.checked_mul(10)?.checked_add(value)?;
    }
    let round_up = usize::try_from(keep).is_ok_and(|k| k < significant && digit(k) >= b'5');
    if round_up {
        picos = picos.checked_add(1)?;
    }
    Some(picos)
}

/// Exact decimal text, trailing zeros trimmed: `1234.5`, `-0.000000001`, `0`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.abs();
        let whole = abs / NANOS_PER_UNIT;
        let fraction = abs % NANOS_PER_UNIT;
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{fraction:09}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// A JSON number carrying every stored digit (no float rounding on the way out).
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let number = serde_json::Number::from_string_unchecked(self.to_string());
        number.serialize(serializer)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_numbers_parse_to_exact_picos() {
        let picos = |text: &str| parse_picos(text.as_bytes());
        assert_eq!(picos("12.34"), Some(12_340_000_000_000));
        assert_eq!(picos("-0.5"), Some(-500_000_000_000));
        assert_eq!(picos("+3"), Some(3_000_000_000_000));
        assert_eq!(picos(".5"), Some(500_000_000_000));
        assert_eq!(picos("5."), Some(5_000_000_000_000));
        assert_eq!(picos("5.6E-05"), Some(56_000_000));
        assert_eq!(picos("1e3"), Some(1_000_000_000_000_000));
        assert_eq!(picos("0.0000000000005"), Some(1));
        assert_eq!(picos("-0.0000000000005"), Some(-1));
        assert_eq!(picos("0.0000000000004999"), Some(0));
        assert_eq!(picos("000123.4500"), Some(123_450_000_000_000));
        assert_eq!(picos("0e999999999999"), Some(0));
        assert_eq!(picos("1e-999999999999"), Some(0));
        assert_eq!(picos("12345678901234567890.123456789012"), Some(12_345_678_901_234_567_890_123_456_789_012));
        for bad in ["", "-", ".", "e5", "1e", "1e+", "1.2.3", "twelve", "NaN", "inf", "1,5", " 1", "1e999999999"] {
            assert_eq!(picos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn picos_round_half_away_from_zero() {
        assert_eq!(Money::from_picos(1_500).nanos(), 2);
        assert_eq!(Money::from_picos(1_499).nanos(), 1);
        assert_eq!(Money::from_picos(-1_500).nanos(), -2);
    }

    #[test]
    fn decimal_text_round_trips() {
        for text in ["0", "1234.5", "-0.000000001", "999999999999.123456789"] {
            assert_eq!(Money::parse_decimal(text).unwrap().to_string(), text);
        }
        assert_eq!(Money::parse_decimal("abc"), None);
        assert_eq!(Money::parse_decimal("1.0000000001"), None);
    }

    #[test]
    fn cents_are_grouped_for_people() {
        let money = Money::parse_decimal("1234567.005").unwrap();
        assert_eq!(money.display_cents(), "1,234,567.01");
        assert_eq!(Money::parse_decimal("-0.004").unwrap().display_cents(), "0.00");
        assert_eq!(Money::parse_decimal("-12.5").unwrap().display_cents(), "-12.50");
        assert_eq!(money.display_signed_cents(), "+1,234,567.01");
        assert_eq!(Money::ZERO.display_signed_cents(), "0.00");
    }

    #[test]
    fn json_keeps_every_digit() {
        let money = Money::parse_decimal("1000000000.123456789").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "1000000000.123456789");
    }
}
