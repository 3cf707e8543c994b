/// Deterministic JSON text for the Traffic reports: objects keep the order their keys were
/// written in (never a `Dictionary`), numbers are pre-formatted from integers or from a
/// fixed number of decimals, so two runs of one scenario give byte-identical documents.
/// Not a general JSON library: it writes, it does not parse.

/// A JSON value whose object keys keep insertion order.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// Already-formatted number text (see `DecimalText`).
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.text() == b.text() }

    public static func int<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }

    /// Pretty-printed with two-space indentation and a final newline.
    public func text() -> String { String(decoding: utf8Text(), as: UTF8.self) }

    /// `text()` as UTF-8 bytes, for writing a file without another copy. The writer works on
    /// bytes: a 250-node run's summary.json (every node's iptables-save, ~480 MB) took ~15 s
    /// through `String` appends of one scalar at a time.
    public func utf8Text() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out, indent: 0)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// On one line, no spaces (for `podwire bench --json`).
    public func compactText() -> String {
        var out: [UInt8] = []
        write(into: &out, indent: nil)
        return String(decoding: out, as: UTF8.self)
    }

    /// `indent` nil: compact (no spaces or newlines).
    private func write(into out: inout [UInt8], indent: Int?) {
        switch self {
        case .object(let members):
            if members.isEmpty { Self.append("{}", to: &out); return }
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in members.enumerated() {
                if let indent {
                    Self.append(i == 0 ? "\n" : ",\n", to: &out)
                    Self.pad(&out, indent + 1)
                } else if i > 0 {
                    out.append(UInt8(ascii: ","))
                }
                Self.quote(k, into: &out)
                Self.append(indent == nil ? ":" : ": ", to: &out)
                v.write(into: &out, indent: indent.map { $0 + 1 })
            }
            if let indent {
                out.append(UInt8(ascii: "\n"))
                Self.pad(&out, indent)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            if items.isEmpty { Self.append("[]", to: &out); return }
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if let indent {
                    Self.append(i == 0 ? "\n" : ",\n", to: &out)
                    Self.pad(&out, indent + 1)
                } else if i > 0 {
                    out.append(UInt8(ascii: ","))
                }
                v.write(into: &out, indent: indent.map { $0 + 1 })
            }
            if let indent {
                out.append(UInt8(ascii: "\n"))
                Self.pad(&out, indent)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let s): Self.quote(s, into: &out)
        case .number(let n): Self.append(n, to: &out)
        case .bool(let b): Self.append(b ? "true" : "false", to: &out)
        case .null: Self.append("null", to: &out)
        }
    }

    private static func append(_ s: String, to out: inout [UInt8]) { out.append(contentsOf: s.utf8) }

    private static func pad(_ out: inout [UInt8], _ n: Int) {
        for _ in 0..<(2 * n) { out.append(UInt8(ascii: " ")) }
    }

    /// RFC 8259 §7 escaping: `"`, `\`, and the control characters below U+0020 (`\n`, `\r`,
    /// `\t` by name, the rest as `\u00xx`); everything else, non-ASCII included, is copied as
    /// UTF-8. Runs of bytes that need nothing are copied whole.
    static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                out.append(UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
                case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Decimal text from integers, without `printf` or locale: the same bytes on every platform.
public enum DecimalText {
    /// `value / 10^fractionDigits` written exactly, trailing fractional zeros (and a bare
    /// point) removed: `fixed(1500, 3)` = "1.5", `fixed(2000, 3)` = "2", `fixed(-5, 3)` = "-0.005".
    public static func fixed(_ value: Int64, fractionDigits: Int) -> String {
        precondition(fractionDigits >= 0 && fractionDigits <= 18)
        let negative = value < 0
        let magnitude = value.magnitude
        let scale = UInt64(pow10(fractionDigits))
        let whole = magnitude / scale
        var frac = magnitude % scale
        var text = (negative ? "-" : "") + String(whole)
        if frac != 0 {
            var digits = fractionDigits
            while frac % 10 == 0 { frac /= 10; digits -= 1 }
            let f = String(frac)
            text += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return text
    }

    /// `a × b / c` rounded half up, then written with `fractionDigits` decimals as `fixed`
    /// does: `ratio(1, 1, 3, fractionDigits: 3)` = "0.333". The product is 128-bit, so
    /// `bits × 1e9 / nanoseconds` cannot overflow; `c == 0` gives "0".
    public static func ratio(_ a: UInt64, times b: UInt64, over c: UInt64, fractionDigits: Int) -> String {
        guard c != 0 else { return "0" }
        let q = scaledQuotient(a, times: b, over: c, scale: UInt64(pow10(fractionDigits)))
        return fixed(Int64(clamping: q), fractionDigits: fractionDigits)
    }

    /// `round(a × b × scale / c)`, half up, saturating at `UInt64.max`.
    static func scaledQuotient(_ a: UInt64, times b: UInt64, over c: UInt64, scale: UInt64) -> UInt64 {
        // (a·b) as 128 bits, then × scale as 192 → keep it simple: divide in two steps.
        let p = a.multipliedFullWidth(by: b)
        // First quotient/remainder of a·b by c (quotient must fit 64 bits).
        guard p.high < c else { return .max }
        let (q1, r1) = c.dividingFullWidth((p.high, p.low))
        // q1 × scale + (r1 × scale) / c, rounded.
        let (hi, lo) = q1.multipliedFullWidth(by: scale)
        guard hi == 0 else { return .max }
        let rs = r1.multipliedFullWidth(by: scale)
        let (q2, r2) = c.dividingFullWidth((rs.high, rs.low))   // r1 < c, so q2 < scale
        var q = lo.addingReportingOverflow(q2)
        if q.overflow { return .max }
        // Half up: 2·r2 ≥ c.
        if r2 >= c - r2 {
            q = q.partialValue.addingReportingOverflow(1)
            if q.overflow { return .max }
        }
        return q.partialValue
    }

    /// A finite `Double` with `fractionDigits` decimals (round half away from zero), written
    /// as `fixed` does. IEEE arithmetic is deterministic, so so is this.
    public static func double(_ x: Double, fractionDigits: Int) -> String {
        guard x.isFinite else { return "0" }
        let scaled = (x * pow10Double(fractionDigits)).rounded(.toNearestOrAwayFromZero)
        guard abs(scaled) < 9.2e18 else { return x < 0 ? "-9223372036854775807" : "9223372036854775807" }
        return fixed(Int64(scaled), fractionDigits: fractionDigits)
    }

    /// C's `printf("%g", x)`: 6 significant digits, `%f` style when the exponent is in
    /// [-4, 6), else `%e` style (`1e-05`), trailing zeros removed. For iputils' loss line.
    public static func g(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
        if x == 0 { return "0" }
        let negative = x < 0
        let v = abs(x)
        // Decimal exponent of v rounded to 6 significant digits.
        var e = 0
        var m = v
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        // Powers of ten up to 1e22 are exact doubles, so scale by one exact power.
        let scaled = e <= 5 ? v * pow10Double(5 - e) : v / pow10Double(e - 5)
        var digits = UInt64(scaled.rounded(.toNearestOrEven))   // 6 digits, or 1_000_000 after carry
        if digits >= 1_000_000 { digits /= 10; e += 1 }
        var text: String
        if e >= -4 && e < 6 {
            // digits × 10^(e-5)
            let fractionDigits = 5 - e
            if fractionDigits <= 0 {
                text = String(digits) + String(repeating: "0", count: -fractionDigits)
            } else {
                text = fixed(Int64(digits), fractionDigits: fractionDigits)
            }
        } else {
            let mantissa = fixed(Int64(digits), fractionDigits: 5)
            let exponent = String(abs(e))
            text = mantissa + "e" + (e < 0 ? "-" : "+") + (exponent.count < 2 ? "0" : "") + exponent
        }
        return (negative ? "-" : "") + text
    }

    static func pow10(_ n: Int) -> Int64 {
        var r: Int64 = 1
        for _ in 0..<n { r *= 10 }
        return r
    }

    /// 10^n for n ≥ 0 (exact up to 10^22).
    static func pow10Double(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= 10 }
        return r
    }
}
