/// The textual forms of scalar values in topology files, each parsed the way the tool it
/// comes from parses it: Go's `time.ParseDuration` (as Kubernetes uses for durations),
/// iperf3's `-b` rates, tc's link rates, Kubernetes' DNS-1123/1035 names and label syntax
/// (k8s.io/apimachinery/pkg/util/validation), kube-apiserver's port ranges and Linux
/// interface names. Pure functions; no diagnostics here.

import Engine

enum DurationSyntax {
    enum Failure: Error, Equatable {
        /// A number with no unit, e.g. "2" (Go accepts only "0" bare).
        case missingUnit
        case unknownUnit(String)
        case malformed
        case overflow
    }

    /// Go `time.ParseDuration`: "2s", "1.5s", "200ms", "100us", "1m30s", "-1h"; units ns, us
    /// (µs, μs), ms, s, m, h; a bare "0" is allowed, like Go. Fractions are truncated to
    /// whole nanoseconds, as Go does.
    static func parse(_ text: String) -> Result<SimDuration, Failure> {
        var scalars = Array(text.unicodeScalars)
        var negative = false
        if let first = scalars.first, first == "-" || first == "+" {
            negative = first == "-"
            scalars.removeFirst()
        }
        if scalars == ["0"] { return .success(.zero) }
        if scalars.isEmpty { return .failure(.malformed) }
        if scalars.allSatisfy({ isDigit($0) || $0 == "." }) { return .failure(.missingUnit) }

        var total: UInt64 = 0
        var i = 0
        while i < scalars.count {
            // Integer part.
            var whole: UInt64 = 0
            var sawDigits = false
            while i < scalars.count, isDigit(scalars[i]) {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(scalars[i].value - 48))
                if o1 || o2 { return .failure(.overflow) }
                whole = a
                sawDigits = true
                i += 1
            }
            // Fraction: keep at most 18 digits, enough for nanoseconds of any unit.
            var fraction: UInt64 = 0
            var scale: UInt64 = 1
            if i < scalars.count, scalars[i] == "." {
                i += 1
                while i < scalars.count, isDigit(scalars[i]) {
                    if scale < 1_000_000_000_000_000_000 {
                        fraction = fraction * 10 + UInt64(scalars[i].value - 48)
                        scale *= 10
                    }
                    sawDigits = true
                    i += 1
                }
            }
            if !sawDigits { return .failure(.malformed) }
            // Unit.
            let unitStart = i
            while i < scalars.count, !isDigit(scalars[i]), scalars[i] != "." { i += 1 }
            let unit = String(String.UnicodeScalarView(scalars[unitStart..<i]))
            if unit.isEmpty { return .failure(.missingUnit) }
            guard let perUnit = nanosecondsPerUnit[unit] else { return .failure(.unknownUnit(unit)) }
            let (w, o1) = whole.multipliedReportingOverflow(by: perUnit)
            // fraction < scale ≤ 1e18 and perUnit ≤ 3.6e12: multiply as Double-free 128-bit.
            let f = fraction.multipliedFullWidth(by: perUnit)
            let (fracNanos, _) = scale.dividingFullWidth((high: f.high, low: f.low))
            let (sum, o2) = w.addingReportingOverflow(fracNanos)
            let (t, o3) = total.addingReportingOverflow(sum)
            if o1 || o2 || o3 || t > UInt64(Int64.max) { return .failure(.overflow) }
            total = t
        }
        let n = Int64(total)
        return .success(SimDuration(nanoseconds: negative ? -n : n))
    }

    private static let nanosecondsPerUnit: [String: UInt64] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    private static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 48 && s.value <= 57 }
}

enum BitrateSyntax {
    /// iperf3 `-b`: a number with an optional K, M, G or T suffix (either case, 1000-based
    /// for rates), e.g. "100M", "1.5G", "800000", or zero ("0"): unlimited, as `-b 0` is.
    /// Returns bits per second, or nil when malformed, negative, between 0 and 1 bit/s, or
    /// above Int64.
    static func parse(_ text: String) -> Int64? {
        var digits = Substring(text)
        var multiplier: Double = 1
        switch digits.last {
        case "k", "K": multiplier = 1e3
        case "m", "M": multiplier = 1e6
        case "g", "G": multiplier = 1e9
        case "t", "T": multiplier = 1e12
        default: break
        }
        if multiplier != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "." }),
              digits.filter({ $0 == "." }).count <= 1, digits != ".",
              let value = Double(digits) else { return nil }
        if value == 0 { return 0 }
        let bits = (value * multiplier).rounded()
        guard bits >= 1, bits < 9.2e18 else { return nil }
        return Int64(bits)
    }
}

enum TCRateSyntax {
    enum Failure: Error, Equatable {
        /// A bare number: tc reads it as bit/s, which is rarely what was meant in a file.
        case missingUnit
        case unknownUnit(String)
        case malformed
        /// Zero, or more than Int64 bits per second.
        case outOfRange
    }

    /// tc(8)'s rate units, matched case-insensitively like tc's `get_rate` (strcasecmp):
    /// SI bit rates (`bit`, `kbit` … `tbit`), IEC ones (`kibit` … `tibit`) and byte rates
    /// (`bps`, `kbps` … `tbps`, `kibps` … `tibps`; tc's `bps` is bytes per second).
    static let units: [(name: String, bitsPerUnit: Double)] = [
        ("bit", 1), ("kbit", 1e3), ("mbit", 1e6), ("gbit", 1e9), ("tbit", 1e12),
        ("kibit", 1024), ("mibit", 1_048_576), ("gibit", 1_073_741_824), ("tibit", 1_099_511_627_776),
        ("bps", 8), ("kbps", 8e3), ("mbps", 8e6), ("gbps", 8e9), ("tbps", 8e12),
        ("kibps", 8 * 1024), ("mibps", 8 * 1_048_576), ("gibps", 8 * 1_073_741_824), ("tibps", 8 * 1_099_511_627_776),
    ]

    /// "100Mbit", "1Gbit", "1.5gbit", "500kbit", "12.5MBps" → bits per second (rounded).
    static func parse(_ text: String) -> Result<Int64, Failure> {
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count, (scalars[i].value >= 48 && scalars[i].value <= 57) || scalars[i] == "." { i += 1 }
        let number = String(String.UnicodeScalarView(scalars[..<i]))
        let unit = String(String.UnicodeScalarView(scalars[i...]))
        guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1, let value = Double(number) else {
            return .failure(.malformed)
        }
        if unit.isEmpty { return .failure(.missingUnit) }
        guard let scale = units.first(where: { $0.name == unit.lowercased() })?.bitsPerUnit else {
            return .failure(.unknownUnit(unit))
        }
        let bits = (value * scale).rounded()
        guard bits >= 1, bits < 9.2e18 else { return .failure(.outOfRange) }
        return .success(Int64(bits))
    }
}

enum PortRangeSyntax {
    /// kube-apiserver's `--service-node-port-range` (k8s.io/apimachinery/pkg/util/net
    /// `ParsePortRange`): "30000-32767", "30000+2767" (base and extra ports) or one port,
    /// within 1…65535.
    static func parse(_ text: String) -> ClosedRange<Int>? {
        func port(_ s: Substring) -> Int? {
            guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(s), (1...65535).contains(v) else { return nil }
            return v
        }
        if let dash = text.firstIndex(of: "-") {
            guard let low = port(text[..<dash]), let high = port(text[text.index(after: dash)...]), low <= high else { return nil }
            return low...high
        }
        if let plus = text.firstIndex(of: "+") {
            let extra = text[text.index(after: plus)...]
            guard let low = port(text[..<plus]), !extra.isEmpty, extra.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(extra), n <= 65535 - low else { return nil }
            return low...(low + n)
        }
        return port(Substring(text)).map { $0...$0 }
    }
}

enum NameSyntax {
    /// RFC 1123 label as Kubernetes checks it: 1…63 of [a-z0-9-], alphanumeric at both ends.
    static func isDNS1123Label(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...63).contains(u.count), isLowerAlnum(u.first!), isLowerAlnum(u.last!) else { return false }
        return u.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// RFC 1035 label (Service names): a DNS-1123 label that starts with a letter.
    static func isDNS1035Label(_ s: String) -> Bool {
        guard let first = s.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        return isDNS1123Label(s)
    }

    /// A Linux interface name as `dev_valid_name` accepts it (net/core/dev.c): 1…15 bytes
    /// (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or white space (the kernel's
    /// `isspace`: space, \t…\r and the byte 0xA0).
    static func isInterfaceName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...15).contains(u.count), s != ".", s != ".." else { return false }
        return !u.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 == 0x20 || $0 == 0xA0 || (0x09...0x0D).contains($0) }
    }

    /// RFC 1123 subdomain (object names): ≤ 253 characters, dot-separated DNS-1123 labels.
    static func isDNS1123Subdomain(_ s: String) -> Bool {
        guard (1...253).contains(s.utf8.count) else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNS1123Label(String($0)) }
    }

    /// Label key: optional DNS-1123 subdomain prefix and "/", then a name of 1…63 characters
    /// of [A-Za-z0-9-_.], alphanumeric at both ends.
    static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isLabelName(String(parts[0]))
        case 2: return isDNS1123Subdomain(String(parts[0])) && isLabelName(String(parts[1]))
        default: return false
        }
    }

    /// Label value: empty, or 1…63 characters of [A-Za-z0-9-_.], alphanumeric at both ends.
    static func isLabelValue(_ s: String) -> Bool { s.isEmpty || isLabelName(s) }

    /// IANA service name as a container port name: 1…15 of [a-z0-9-], with a letter, no
    /// leading, trailing or double hyphen.
    static func isPortName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...15).contains(u.count), u.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }),
              u.first != UInt8(ascii: "-"), u.last != UInt8(ascii: "-"), !s.contains("--"),
              u.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) else { return false }
        return true
    }

    private static func isLabelName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...63).contains(u.count), isAlnum(u.first!), isAlnum(u.last!) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }
}
