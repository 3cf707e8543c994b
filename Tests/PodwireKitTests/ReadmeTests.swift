import Foundation
import Testing

/// The README's sample of `make run`'s summary is what `make run` prints: it had drifted
/// (12 pcap files where the run writes 15, round trips from before the CPU model).
@Suite struct ReadmeTests {
    /// The fenced block after "`make run` prints a summary like this (abridged):".
    static func sampleLines() throws -> [String] {
        let readme = try String(contentsOfFile: E2E.repo.appendingPathComponent("README.md").path, encoding: .utf8)
        let intro = "`make run` prints a summary like this (abridged):\n\n```\n"
        guard let start = readme.range(of: intro),
              let end = readme.range(of: "\n```", range: start.upperBound..<readme.endIndex) else {
            Issue.record("README.md has no sample of make run's summary")
            return []
        }
        return readme[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Every line of the sample is a line of the real summary, in the same order. A line
    /// "..." stands for lines left out; a line ending in ", ..." for the rest of that line.
    @Test func theMakeRunSampleIsWhatTheDefaultTopologyPrints() throws {
        let sample = try Self.sampleLines()
        #expect(sample.count > 20)
        let dir = E2E.tempDir("readme")
        // As `make run` does, but into a temporary folder; the README names the default one.
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let output = r.stdout.replacingOccurrences(of: dir, with: "pcaps/single-node")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var next = 0
        for line in sample where line.trimmingCharacters(in: .whitespaces) != "..." {
            let matches: (String) -> Bool = line.hasSuffix(", ...")
                ? { [prefix = String(line.dropLast(3))] in $0.hasPrefix(prefix) }
                : { $0 == line }
            guard let found = output[next...].firstIndex(where: matches) else {
                Issue.record("README line not in make run's summary (or out of order):\n\(line)\n--- summary:\n\(r.stdout)")
                return
            }
            next = found + 1
        }
    }

    /// The Layout section names every example topology users start from (it had listed
    /// three of five).
    @Test func theLayoutNamesEveryExampleTopology() throws {
        let readme = try String(contentsOfFile: E2E.repo.appendingPathComponent("README.md").path, encoding: .utf8)
        guard let layout = readme.range(of: "## Layout") else {
            Issue.record("README.md has no Layout section")
            return
        }
        let section = readme[layout.upperBound...]
        let files = try FileManager.default.contentsOfDirectory(atPath: E2E.repo.appendingPathComponent("topologies").path)
            .filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5)
        for f in files { #expect(section.contains(f), "README's Layout does not name topologies/\(f)") }
    }
}
