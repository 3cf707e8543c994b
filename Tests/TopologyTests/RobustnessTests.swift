/// Malformed input never crashes the reader: YAML syntax errors keep libyaml's line:column,
/// every cut of the default file and 200 seeded random mutations either parse or give
/// errors with real positions.

import Engine
import Testing
@testable import Topology

@Suite struct RobustnessTests {
    @Test func emptyFile() {
        expectError("", line: 1, column: 1, path: "", ["file is empty", "Topology"])
        expectError("# only a comment\n\n", line: 1, column: 1, path: "", ["file is empty"])
        expectError("---\n---\n", line: 1, column: 1, path: "", ["file is empty"])
    }

    @Test func unclosedFlowSequence() {
        let yaml = Fixtures.header + "  nodes: [\n    {name: pi-1\n"
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.path == "")
        #expect(errors.first?.message.hasPrefix("invalid YAML: ") == true)
        #expect(errors.first?.line == 7)
        #expect(errors.first?.hint != nil)
    }

    @Test func badIndentationKeepsPosition() {
        let yaml = Fixtures.header + "  nodes:\n    - name: pi-1\n   profile: x\n"
        expectError(yaml, line: 7, column: 4, path: "", ["invalid YAML"])
    }

    @Test func tabIndentation() {
        let yaml = Fixtures.header + "\tnodes: []\n"
        expectError(yaml, line: 5, column: 1, path: "", ["invalid YAML", "tab"])
    }

    @Test func unterminatedQuote() {
        let yaml = Fixtures.header + "  duration: \"2s\n"
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("quoted scalar") == true)
        #expect(errors.first?.line ?? 0 >= 5)
    }

    /// The error points at the repeat, the line to fix, and names the first: it used to
    /// point at the first occurrence.
    @Test func duplicateKeys() {
        let yaml = Fixtures.header + Fixtures.oneNode + "  seed: 1\n  # a comment\n\n  seed: 2\n"
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.message == "duplicate key `seed` in the same mapping (first at 7:3)", "\(errors)")
        #expect(errors.first?.line == 10 && errors.first?.column == 3, "\(errors)")
    }

    /// In a list item and in a nested mapping; a flow mapping keeps the first occurrence.
    @Test func duplicateKeysInAListItemAndInFlowStyle() {
        let item = Fixtures.errors(Fixtures.header + "  nodes:\n    - name: pi-1\n      profile: raspberry-pi-4b\n      name: pi-2\n")
        #expect(item.first?.line == 8 && item.first?.column == 7, "\(item)")
        #expect(item.first?.message.contains("(first at 6:7)") == true, "\(item)")
        let flow = Fixtures.errors(Fixtures.header + "  nodes: [{name: pi-1, name: pi-2}]\n")
        #expect(flow.first?.message.contains("(this is its first occurrence)") == true, "\(flow)")
        #expect(flow.first?.line == 5, "\(flow)")
    }

    @Test func controlCharacter() {
        let yaml = Fixtures.header + Fixtures.oneNode + "  seed: 1\u{1}\n"
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.line == 7)
        #expect(errors.first?.column == 10)
        #expect(errors.first?.message.contains("U+0001") == true)
    }

    @Test func syntaxErrorInALaterDocumentKeepsEarlierChecks() {
        let yaml = Fixtures.header + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: pod/client, to: node/pi-1, count: zero}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client
            """
        let errors = Fixtures.errors(yaml)
        // The count error is still reported; pod/client is not called missing, since its
        // document could not be read.
        #expect(errors.map(\.path) == ["spec.scenario[0].ping.count", ""])
    }

    /// Every cut of the default file (at each line end and inside every line) parses or
    /// gives errors that point into the file; none crashes.
    @Test func truncatedDefaultFile() throws {
        let text = try Fixtures.defaultFileText
        let scalars = Array(text.unicodeScalars)
        var cuts = Set<Int>()
        for (i, s) in scalars.enumerated() where s == "\n" { cuts.insert(i); cuts.insert(i + 1) }
        for i in stride(from: 0, to: scalars.count, by: 7) { cuts.insert(i) }
        var parsed = 0, failed = 0
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        for cut in cuts.sorted() {
            let prefix = String(String.UnicodeScalarView(scalars[..<cut]))
            do {
                _ = try TopologyFile.parse(yaml: prefix, fileName: "cut.yaml")
                parsed += 1
            } catch {
                failed += 1
                #expect(!error.errors.isEmpty)
                for e in error.errors {
                    #expect(e.line >= 1 && e.line <= lineCount + 1, "cut at \(cut): \(e)")
                    #expect(e.column >= 1, "cut at \(cut): \(e)")
                    #expect(!e.message.isEmpty && e.file == "cut.yaml")
                }
            }
        }
        #expect(parsed > 0)   // e.g. cut after a whole Pod document
        #expect(failed > 0)
    }

    /// 200 seeded mutations (delete a line, duplicate a line, change a character).
    @Test func randomMutationsNeverCrash() throws {
        let lines = try Fixtures.defaultFileText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var rng = SeededGenerator(seed: 0x5EED_0F_70_9010)
        let replacements: [Character] = Array(":-{}[],#&*!|>'\"% \t0123456789abcxyz/.\u{0}")
        var outcomes = (parsed: 0, failed: 0)
        for round in 0..<200 {
            var mutated = lines
            switch rng.next() % 3 {
            case 0:
                mutated.remove(at: Int(rng.next() % UInt64(mutated.count)))
            case 1:
                let i = Int(rng.next() % UInt64(mutated.count))
                mutated.insert(mutated[i], at: i)
            default:
                let i = Int(rng.next() % UInt64(mutated.count))
                var chars = Array(mutated[i])
                let replacement = replacements[Int(rng.next() % UInt64(replacements.count))]
                if chars.isEmpty { chars = [replacement] } else { chars[Int(rng.next() % UInt64(chars.count))] = replacement }
                mutated[i] = String(chars)
            }
            let yaml = mutated.joined(separator: "\n")
            do {
                _ = try TopologyFile.parse(yaml: yaml, fileName: "m.yaml")
                outcomes.parsed += 1
            } catch {
                outcomes.failed += 1
                #expect(!error.errors.isEmpty, "round \(round)")
                for e in error.errors {
                    #expect(e.line >= 1 && e.column >= 1, "round \(round): \(e)")
                    #expect(!e.description.isEmpty)
                }
            }
        }
        #expect(outcomes.parsed + outcomes.failed == 200)
        #expect(outcomes.failed > 0)
    }
}
