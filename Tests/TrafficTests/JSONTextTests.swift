/// Deterministic JSON text and number formatting.
import Testing
@testable import Traffic

@Suite struct JSONTextTests {
    @Test func fixedTrimsZeros() {
        #expect(DecimalText.fixed(1500, fractionDigits: 3) == "1.5")
        #expect(DecimalText.fixed(2000, fractionDigits: 3) == "2")
        #expect(DecimalText.fixed(-5, fractionDigits: 3) == "-0.005")
        #expect(DecimalText.fixed(0, fractionDigits: 9) == "0")
        #expect(DecimalText.fixed(100_000_000, fractionDigits: 9) == "0.1")
        #expect(DecimalText.fixed(42, fractionDigits: 0) == "42")
    }

    @Test func ratioRoundsHalfUpIn128Bits() {
        #expect(DecimalText.ratio(1, times: 1, over: 3, fractionDigits: 3) == "0.333")
        #expect(DecimalText.ratio(2, times: 1, over: 3, fractionDigits: 3) == "0.667")
        #expect(DecimalText.ratio(1, times: 1, over: 8, fractionDigits: 2) == "0.13")   // 0.125 → half up
        #expect(DecimalText.ratio(5, times: 1, over: 0, fractionDigits: 2) == "0")
        // 10^12 bytes × 8e9 / 1e9 ns: the product overflows 64 bits, the quotient does not.
        #expect(DecimalText.ratio(1_000_000_000_000, times: 8_000_000_000, over: 1_000_000_000, fractionDigits: 3)
                == "8000000000000")
    }

    @Test func doubleFormatting() {
        #expect(DecimalText.double(0.0012345, fractionDigits: 6) == "0.001235")
        #expect(DecimalText.double(-1.5, fractionDigits: 0) == "-2")
        #expect(DecimalText.double(.nan, fractionDigits: 3) == "0")
    }

    /// C's %g with 6 significant digits, as iputils prints the loss.
    @Test func percentG() {
        #expect(DecimalText.g(0) == "0")
        #expect(DecimalText.g(100) == "100")
        #expect(DecimalText.g(100.0 / 3) == "33.3333")
        #expect(DecimalText.g(200.0 / 3) == "66.6667")
        #expect(DecimalText.g(100.0 / 7) == "14.2857")
        #expect(DecimalText.g(50) == "50")
        #expect(DecimalText.g(0.0001) == "0.0001")
        #expect(DecimalText.g(0.00001) == "1e-05")
        #expect(DecimalText.g(1234567) == "1.23457e+06")
        #expect(DecimalText.g(999999.5) == "1e+06")
        #expect(DecimalText.g(0.1) == "0.1")
    }

    @Test func objectsKeepKeyOrderAndEscape() {
        let v = JSONValue.object([("z", .int(1)), ("a", .string("q\"\\\n\u{1}")), ("m", .array([])), ("e", .object([])),
                                  ("n", .null), ("b", .bool(false))])
        #expect(v.text() == """
            {
              "z": 1,
              "a": "q\\"\\\\\\n\\u0001",
              "m": [],
              "e": {},
              "n": null,
              "b": false
            }

            """)
    }

    // The writer works on UTF-8 bytes (JSONText.swift); these pin its exact output.

    @Test func stringsAreEscapedAsRFC8259Asks() {
        let cases: [(String, String)] = [
            ("", #""""#),
            ("plain", #""plain""#),
            ("say \"hi\"", #""say \"hi\"""#),
            ("back\\slash", #""back\\slash""#),
            ("a\nb\rc\td", #""a\nb\rc\td""#),
            ("\u{0}\u{1}\u{1f}", #""\u0000\u0001\u001f""#),
            ("\u{7f} stays", "\"\u{7f} stays\""),
            ("µs → 10.244.0.2 ✓", "\"µs → 10.244.0.2 ✓\""),
            ("-m comment --comment \"default/web:http\"\n", #""-m comment --comment \"default/web:http\"\n""#),
        ]
        for (raw, expected) in cases {
            #expect(JSONValue.string(raw).compactText() == expected, "\(String(reflecting: raw))")
            #expect(JSONValue.string(raw).text() == expected + "\n")
        }
    }

    @Test func prettyAndCompactLayouts() {
        let v = JSONValue.object([
            ("name", .string("flow 1")), ("sent", .int(3)), ("ok", .bool(true)), ("none", .null),
            ("empty", .object([])), ("list", .array([.number("1.5"), .array([])])),
        ])
        #expect(v.compactText() == #"{"name":"flow 1","sent":3,"ok":true,"none":null,"empty":{},"list":[1.5,[]]}"#)
        #expect(v.text() == """
            {
              "name": "flow 1",
              "sent": 3,
              "ok": true,
              "none": null,
              "empty": {},
              "list": [
                1.5,
                []
              ]
            }

            """)
        #expect(v.utf8Text() == Array(v.text().utf8))
    }
}
