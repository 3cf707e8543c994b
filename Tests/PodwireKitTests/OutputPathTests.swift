import Capture
import Foundation
@testable import PodwireKit
import Testing

/// Where a command is told to write is checked before it works (OutputPath.swift), errors
/// say why in plain words, and a capture folder that cannot be made is an error, not a crash.
@Suite struct OutputPathTests {
    /// A folder with a regular file `afile` in it.
    static func sandbox(_ label: String) throws -> (dir: String, file: String) {
        let dir = E2E.tempDir(label)
        let file = dir + "/afile"
        try "not a folder\n".write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    @Test func foldersThatExistOrCanBeMadeHaveNoProblem() throws {
        let s = try Self.sandbox("outpath-ok")
        #expect(OutputPath.folderProblem(s.dir) == nil)
        #expect(OutputPath.folderProblem(s.dir + "/new/deeper") == nil)
        #expect(OutputPath.fileProblem(s.dir + "/chart.svg") == nil)
        #expect(OutputPath.fileProblem(s.dir + "/new/deeper/chart.svg") == nil)
        #expect(OutputPath.fileProblem(s.file) == nil, "an existing file may be replaced")
        // The checks only look: nothing was created.
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/new"))
    }

    @Test func aFileWhereAFolderIsWantedAndTheReverseAreNamed() throws {
        let s = try Self.sandbox("outpath-bad")
        #expect(OutputPath.folderProblem(s.file) == "\(s.file) is a file, not a folder")
        #expect(OutputPath.folderProblem(s.file + "/sub/x") == "cannot create \(s.file)/sub/x: \(s.file) is a file, not a folder")
        #expect(OutputPath.fileProblem(s.dir) == "\(s.dir) is a folder, not a file")
        #expect(OutputPath.fileProblem(s.file + "/chart.svg") == "\(s.file) is a file, not a folder")
        #expect(OutputPath.fileProblem(s.dir + "/") == "\(s.dir)/ names no file")
    }

    @Test func foundationErrorsAreToldByTheirErrnoText() throws {
        let s = try Self.sandbox("outpath-reason")
        do {
            try FileManager.default.createDirectory(atPath: s.file + "/sub", withIntermediateDirectories: true)
            Issue.record("createDirectory under a file succeeded")
        } catch {
            #expect(OutputPath.reason(error) == "Not a directory")
        }
        do {
            try "x".write(toFile: s.dir + "/missing/x.svg", atomically: true, encoding: .utf8)
            Issue.record("writing into a missing folder succeeded")
        } catch {
            #expect(OutputPath.reason(error) == "No such file or directory")
        }
    }

    @Test func writeMakesTheMissingFoldersThenTheFile() throws {
        let s = try Self.sandbox("outpath-write")
        let path = s.dir + "/a/b/chart.svg"
        try OutputPath.write("<svg/>\n", toFile: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "<svg/>\n")
    }

    /// `bench engine --capture-dir` pointed at a place no folder can be made used to stop the
    /// process on a `try!`.
    @Test func aBenchCaptureThatCannotStartThrowsInsteadOfCrashing() throws {
        let s = try Self.sandbox("outpath-bench")
        #expect(throws: CaptureError.cannotCreateDirectory(path: s.file + "/bench", errno: ENOTDIR)) {
            _ = try UDPPathScenario(.bridged, capture: true, captureDirectory: s.file + "/bench")
        }
    }

    /// A run into a folder podwire wrote before removes the old `summary.json` before it
    /// writes anything (as the capture removes `index.json`), so a run killed midway does not
    /// leave another run's summary beside its partial pcaps. A folder that is not podwire's
    /// keeps its own `summary.json` until a run completes there.
    @Test func aNewRunRemovesThePreviousRunsSummaryFirst() throws {
        let own = E2E.tempDir("claim-own")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", own, "--duration", "10ms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: own + "/summary.json"))
        try Replay.claimOutputDirectory(own)
        #expect(!FileManager.default.fileExists(atPath: own + "/summary.json"))

        let foreign = E2E.tempDir("claim-foreign")
        try "{}\n".write(toFile: foreign + "/summary.json", atomically: true, encoding: .utf8)
        try Replay.claimOutputDirectory(foreign)
        #expect(try String(contentsOfFile: foreign + "/summary.json", encoding: .utf8) == "{}\n")
    }

    // Through the real command line: the refusal comes before any work.

    @Test func runRefusesAnSVGFolderThatIsAFileBeforeReplaying() throws {
        let s = try Self.sandbox("outpath-run")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", s.dir + "/out", "--svg", s.file])
        #expect(r.status == 64, "exit \(r.status)\n\(r.stderr)")
        #expect(r.stderr.contains("--svg \(s.file): \(s.file) is a file, not a folder"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.dir + "/out"), "the replay ran before the refusal")
        let o = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", s.file + "/out"])
        #expect(o.status == 64, "exit \(o.status)\n\(o.stderr)")
        #expect(o.stderr.contains("\(s.file) is a file, not a folder"), "\(o.stderr)")
    }

    @Test func benchThroughputRefusesAnSVGPathThatIsAFolderBeforeTheMatrix() throws {
        let s = try Self.sandbox("outpath-tput")
        let r = try E2E.run(E2E.podwire, ["bench", "throughput", "--svg", s.dir, "--time", "1ms"])
        #expect(r.status == 64, "exit \(r.status)\n\(r.stderr)")
        #expect(r.stderr.contains("--svg \(s.dir): \(s.dir) is a folder, not a file; name a file"), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "the matrix ran before the refusal:\n\(r.stdout)")
    }

    @Test func benchThroughputMakesTheSVGsMissingFolders() throws {
        let s = try Self.sandbox("outpath-tput-ok")
        let path = s.dir + "/plots/run1/throughput.svg"
        let r = try E2E.run(E2E.podwire, ["bench", "throughput", "--svg", path, "--time", "1ms",
                                          "--profile", "raspberry-pi-4b", "--cni", "flannel-host-gw", "--via", "pod", "--length", "64"])
        #expect(r.status == 0, "exit \(r.status)\n\(r.stderr)")
        let svg = try String(contentsOfFile: path, encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("raspberry-pi-4b"))
    }

    @Test func benchEngineRefusesACaptureFolderThatIsAFile() throws {
        let s = try Self.sandbox("outpath-engine")
        let r = try E2E.run(E2E.podwire, ["bench", "engine", "--capture-dir", s.file])
        #expect(r.status == 64, "exit \(r.status)\n\(r.stderr)")
        #expect(r.stderr.contains("--capture-dir \(s.file): \(s.file) is a file, not a folder"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
