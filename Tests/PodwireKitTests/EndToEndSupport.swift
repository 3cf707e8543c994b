import Foundation
import Testing

/// Written by one reader thread, read after `DispatchGroup.wait()`.
final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// Runs the built `podwire` executable and external tools (tshark, tcpdump, python3), the way
/// a user would. `make test` installs the tools; a missing one fails the test with a message
/// saying so (never a silent skip).
enum E2E {
    static let repo: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let shared = repo.deletingLastPathComponent().appendingPathComponent("shared")
    static let signaturePy = shared.appendingPathComponent("reference/kernel-ref/signature.py").path
    static let kernelPcaps = shared.appendingPathComponent("reference/kernel-ref/pcaps").path
    static let kernelCases = shared.appendingPathComponent("reference/kernel-ref/out/cases.tsv").path

    /// The podwire binary `swift build` put next to the test bundle (or $PODWIRE_BIN).
    static var podwire: String {
        if let p = ProcessInfo.processInfo.environment["PODWIRE_BIN"] { return p }
        let bundleDir = Bundle.main.bundleURL.deletingLastPathComponent()
        for dir in [bundleDir, repo.appendingPathComponent(".build/debug")] {
            let p = dir.appendingPathComponent("podwire").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return repo.appendingPathComponent(".build/debug/podwire").path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    /// Runs `executable` to its end; standard input is `stdin`, or empty when nil.
    static func run(_ executable: String, _ args: [String], cwd: String? = nil, stdin: Data? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? repo.path)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            // A topology file is far below a pipe's buffer, but write off-thread regardless.
            DispatchQueue.global().async {
                input.fileHandleForWriting.write(stdin)
                try? input.fileHandleForWriting.close()
            }
        }
        // Read both pipes to the end before waiting, so a chatty child cannot block.
        let errBox = DataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Absolute path of a tool on PATH; records a failure naming the install step if missing.
    static func tool(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        Issue.record("\(name) is not installed: run `make test` (it installs tshark and tcpdump with apt-get)")
        return nil
    }

    /// A fresh folder for one test's output. All of them live under one root per test process,
    /// removed when the process exits; a root left by a process that died (a crash, a killed
    /// run) is removed by the next run. Runs write hundreds of megabytes of pcaps, so nothing
    /// may be left behind in the temporary directory.
    static func tempDir(_ label: String) -> String {
        let d = testRoot + "/\(label)-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static let rootPrefix = "podwire-test-"
    static let testRoot: String = {
        let fm = FileManager.default
        let tmp = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
        for name in (try? fm.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix(rootPrefix) {
            // podwire-test-PID: a root whose process is gone (or a folder of the old per-test layout).
            let pid = Int32(name.dropFirst(rootPrefix.count)) ?? 0
            if pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH) {
                try? fm.removeItem(atPath: tmp + name)
            }
        }
        let root = tmp + rootPrefix + "\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: E2E.testRoot) }
        return root
    }()

    static func pcaps(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".pcap") }.sorted()
    }

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// An example topology (`topologies/NAME`) with its scenario steps replaced by `steps`
    /// (YAML lines indented for `scenario:`'s list) and `manifests` (whole `---` documents)
    /// appended: the rest of the file, comments included, stays as it is.
    static func topology(_ name: String, steps: String, appending manifests: String = "") throws -> String {
        let yaml = try String(contentsOfFile: repo.path + "/topologies/" + name, encoding: .utf8)
        guard let key = yaml.range(of: "  scenario:"), let start = yaml.range(of: "\n", range: key.upperBound..<yaml.endIndex),
              let end = yaml.range(of: "  capture:", range: start.upperBound..<yaml.endIndex)
        else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "\(name) has no scenario before capture"]) }
        return yaml.replacingCharacters(in: start.upperBound..<end.lowerBound, with: steps) + manifests
    }

    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Runs the default topology once per seed and caches the output folder.
    nonisolated(unsafe) static var cache: [String: String] = [:]
    static let lock = NSLock()
    static func defaultRun(seed: Int = 1, label: String = "a") throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(seed)-\(label)"
        if let d = cache[key] { return d }
        let dir = tempDir("run-\(key)")
        let r = try run(podwire, ["run", "topologies/single-node.yaml", "--out", dir, "--seed", "\(seed)"])
        #expect(r.status == 0, "podwire run failed: \(r.stderr)")
        cache[key] = dir
        return dir
    }

    struct Phase: Equatable {
        var sig: String
        var roles: [String]
    }

    /// Groups hop records by packet (ARP by sender/target/op, datagrams by payload hash) in
    /// order of first appearance; each phase is its normalised signature and the sorted list
    /// of capture points that saw it (a point that saw it twice appears twice).
    static func phases(_ records: [[String: Any]], roles: [String: String]) -> [Phase] {
        var order: [String] = []
        var byKey: [String: Phase] = [:]
        for r in records {
            guard let file = r["file"] as? String, let role = roles[(file as NSString).lastPathComponent] else { continue }
            var sig = (r["sig"] as? String ?? "").replacingOccurrences(of: "cs=partial", with: "cs=ok")
            sig = sig.replacingOccurrences(of: "cs=lco", with: "cs=ok")
            let payload = (r["payload"] as? [String: Any])?["sha1"] as? String ?? ""
            let key = sig.contains("arp") ? sig : sig + "#" + payload
            if byKey[key] == nil {
                order.append(key)
                byKey[key] = Phase(sig: sig, roles: [])
            }
            byKey[key]!.roles.append(role)
        }
        return order.map { var p = byKey[$0]!; p.roles.sort(); return p }
    }
}
