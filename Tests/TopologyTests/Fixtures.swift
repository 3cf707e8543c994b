/// Shared helpers for the Topology tests: the default topology file on disk, and parsing
/// snippets into either a `Topology` or the errors they produce.

import Foundation
import Testing
@testable import Topology

enum Fixtures {
    /// /work/main/topologies/single-node.yaml, found from this file even when the test
    /// directory is reached through a symlink (the isolated build links it in).
    static let defaultFilePath: String = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("topologies/single-node.yaml").path

    static var defaultFileText: String {
        get throws { try String(contentsOfFile: defaultFilePath, encoding: .utf8) }
    }

    /// The Topology header most snippets start with: lines 1-4, `spec:` on line 4.
    static let header = """
        apiVersion: podwire/v1alpha1
        kind: Topology
        metadata: {name: t}
        spec:

        """

    /// One valid node (line 5-6 after `header`).
    static let oneNode = """
          nodes:
            - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}

        """

    /// Parses `yaml` as "t.yaml" and returns its errors (empty when it parsed).
    static func errors(_ yaml: String) -> [TopologyError] {
        do {
            _ = try TopologyFile.parse(yaml: yaml, fileName: "t.yaml")
            return []
        } catch {
            return error.errors
        }
    }

    static func parse(_ yaml: String) throws -> TopologySpec {
        try TopologyFile.parse(yaml: yaml, fileName: "t.yaml")
    }
}

/// Asserts that `yaml` fails with an error at `line:column` on `path` whose message (or
/// hint) contains every word of `words`.
func expectError(_ yaml: String, line: Int, column: Int, path: String, _ words: [String],
                 sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let errors = Fixtures.errors(yaml)
    let match = errors.first { $0.line == line && $0.column == column && $0.path == path }
    #expect(match != nil, "no error at \(line):\(column) on \(path); got:\n\(TopologyErrors(errors))", sourceLocation: sourceLocation)
    guard let match else { return }
    let text = match.message + " " + (match.hint ?? "")
    for word in words {
        #expect(text.contains(word), "\(String(reflecting: word)) not in: \(match)", sourceLocation: sourceLocation)
    }
    #expect(match.description.hasPrefix("t.yaml:\(line):\(column): "), sourceLocation: sourceLocation)
}
