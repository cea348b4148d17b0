//! Billing currencies. FOCUS BillingCurrency is an ISO 4217 alphabetic code; an unknown code
//! is far more often a shifted column or a typo than a real currency, so ingest rejects it
//! unless the config names it (FOCUS 1.2 allows virtual currencies such as credits).

/// ISO 4217 active alphabetic codes (list of 2024), plus the precious-metal and special
/// drawing codes that some marketplaces bill in.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
    "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
    "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Which currency codes an ingest accepts.
#[derive(Debug, Clone, Default)]
pub struct CurrencyPolicy {
    extra: Vec<String>,
}

impl CurrencyPolicy {
    /// ISO 4217 plus the extra (virtual) currencies the config lists.
    pub fn new(extra: &[String]) -> Self {
        CurrencyPolicy { extra: extra.to_vec() }
    }

    pub fn accepts(&self, code: &str) -> bool {
        ISO_4217.binary_search(&code).is_ok() || self.extra.iter().any(|e| e == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn unknown_codes_are_refused_unless_configured() {
        let policy = CurrencyPolicy::new(&["CREDITS".to_string()]);
        assert!(policy.accepts("EUR"));
        assert!(policy.accepts("CREDITS"));
        assert!(!policy.accepts("usd"));
        assert!(!policy.accepts("US$"));
    }
}
