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

    /// Two manifests with the `---` between them left out: the error points at the line
    /// where the second one starts and says to put `---` before it. It used to say
    /// "duplicate key `apiVersion`, `kind`, `metadata`, `spec` in the same mapping (this is
    /// its first occurrence)" at the first manifest's first line.
    @Test func manifestsWithoutTheSeparatorBetweenThem() {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}\n"
        // Lines 1-6 the Topology, 7 `---`, 8-11 a Pod, then a second Pod at 12 without `---`.
        let twoPods = Fixtures.errors(Fixtures.header + Fixtures.oneNode + "---\n" + pod + "# the second pod\n"
                                      + pod.replacingOccurrences(of: "name: a}", with: "name: b}"))
        #expect(twoPods.count == 1, "\(twoPods)")
        #expect(twoPods.first?.line == 13 && twoPods.first?.column == 1, "\(twoPods)")
        #expect(twoPods.first?.message == "a second manifest starts here without `---`: `apiVersion`, `kind`, `metadata`, `spec` appear again in the document that starts at 8:1",
                "\(twoPods)")
        #expect(twoPods.first?.hint == "put `---` on its own line before line 13 to start a new document", "\(twoPods)")
        // The Topology and the first Pod run together; a manifest that starts with `kind`.
        let first = Fixtures.errors(Fixtures.header + Fixtures.oneNode + "kind: Pod\napiVersion: v1\nmetadata: {name: a}\n")
        #expect(first.first?.line == 7 && first.first?.message.hasPrefix("a second manifest starts here without `---`: `apiVersion`, `kind`") == true,
                "\(first)")
        #expect(first.first?.message.hasSuffix("the document that starts at 1:1") == true, "\(first)")
    }

    /// Several keys repeated in one nested mapping: the error is at the repeat of the first
    /// (in key order) and names the others; one key repeated at the top is not taken for two
    /// manifests.
    @Test func severalDuplicateKeysAndARepeatedKind() {
        let nested = Fixtures.errors(Fixtures.header + "  nodes:\n    - name: pi-1\n      profile: raspberry-pi-4b\n      name: pi-2\n      profile: raspberry-pi-5\n")
        #expect(nested.first?.line == 8 && nested.first?.column == 7, "\(nested)")
        #expect(nested.first?.message == "duplicate key `name` in the same mapping (first at 6:7); `profile` repeats too", "\(nested)")
        let kind = Fixtures.errors(Fixtures.header + Fixtures.oneNode + "---\napiVersion: v1\nkind: Pod\nkind: Pod\n")
        #expect(kind.first?.line == 10 && kind.first?.message == "duplicate key `kind` in the same mapping (first at 9:1)", "\(kind)")
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
