import Testing
@testable import Traffic

/// JSONValue's writer (JSONText.swift) works on UTF-8 bytes; these pin its exact output.
@Suite struct JSONTextTests {
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
