import Foundation
import Testing

/// "must show" 6: bad input gets a clear error (file:line:column, what, how to fix), a
/// non-zero exit and no crash — through the real command line.
@Suite struct CommandLineTests {
    static let base = """
        apiVersion: podwire/v1alpha1
        kind: Topology
        metadata: {name: t}
        spec:
          nodes:
            - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: client}
        spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}

        """

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var yaml: String
        var expect: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "wrong type", yaml: base.replacingOccurrences(of: "metadata: {name: t}", with: "metadata: {name: t}\nspec0: 1")
             , expect: [":4:1:", "unknown field", "did you mean `spec`"]),
        Case(name: "mtu not a number", yaml: base.replacingOccurrences(of: "  nodes:", with: "  cluster: {mtu: abc}\n  nodes:"),
             expect: [":5:18:", "spec.cluster.mtu", "between 576 and 9000"]),
        Case(name: "unknown field with did-you-mean", yaml: base.replacingOccurrences(of: "containers:", with: "contianers:"),
             expect: [":11:", "contianers", "did you mean `containers`"]),
        Case(name: "duplicate node names", yaml: base.replacingOccurrences(of: "    - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}",
             with: "    - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}\n    - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.12/24}"),
             expect: [":7:", "pi-1"]),
        Case(name: "overlapping CIDRs", yaml: base.replacingOccurrences(of: "  nodes:", with: "  cluster: {podSubnet: 10.96.0.0/16}\n  nodes:"),
             expect: [":5:", "overlap"]),
        Case(name: "pod on a missing node", yaml: base.replacingOccurrences(of: "nodeName: pi-1", with: "nodeName: pi-9"),
             expect: [":11:", "pi-9", "pi-1"]),
        Case(name: "NetworkPolicy manifest", yaml: base + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}\n",
             expect: [":14:", "NetworkPolicy"]),
        Case(name: "NodePort out of range", yaml: base + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, selector: {app: web}, ports: [{port: 80, protocol: UDP, nodePort: 20000}]}\n",
             expect: [":16:", "20000", "30000-32767"]),
        Case(name: "custom profile with a misspelt base", yaml: base.replacingOccurrences(of: "  nodes:", with: "  profiles: [{name: mine, base: raspbery-pi-4b}]\n  nodes:"),
             expect: [":5:33:", "spec.profiles[0].base", "did you mean `raspberry-pi-4b`"]),
        Case(name: "inline profile with softirqCore past the cores", yaml: base.replacingOccurrences(of: "profile: raspberry-pi-4b,", with: "profile: {base: raspberry-pi-5, softirqCore: 4},"),
             expect: [":6:", "spec.nodes[0].profile.softirqCore", "not a core of this 4-core board"]),
        Case(name: "truncated YAML", yaml: String(base.prefix(150)) + "\n  - {name: [",
             expect: ["t.yaml:"]),
    ]

    @Test(arguments: cases) func badInputGivesAClearErrorAndExitStatus2(_ c: Case) throws {
        let dir = E2E.tempDir("bad")
        let file = dir + "/t.yaml"
        try c.yaml.write(toFile: file, atomically: true, encoding: .utf8)
        for command in ["validate", "run"] {
            let r = try E2E.run(E2E.podwire, [command, file, "--out", dir + "/out"].filter { command == "run" || !$0.hasPrefix("--out") && !$0.hasSuffix("/out") })
            #expect(r.status == 2, "\(c.name) (\(command)): exit \(r.status)\n\(r.stderr)")
            for e in c.expect {
                #expect(r.stderr.contains(e), "\(c.name): \(String(reflecting: e)) not in:\n\(r.stderr)")
            }
            #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/out/index.json"))
        }
    }

    /// A step the run's end stops early says so (text and `cut_short` in the JSON), with
    /// how to see it whole; steps that finished do not. single-node.yaml at --duration 1s:
    /// udp (ends 150ms) and ping (last request at 600ms) finish, the two iperf3 steps (sending
    /// until 1.5s and 1.2s) are cut.
    @Test func stepsTheRunEndStopsEarlySaySo() throws {
        let dir = E2E.tempDir("cut")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir, "--duration", "1s"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("    cut short: the run ended at 1s, before this step's sending time ended at 1.5s "
                                  + "(raise spec.duration or --duration to see it whole)"), "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "cut short:").count - 1 == 2)
        let flows = try E2E.json(dir + "/summary.json")["flows"] as! [[String: Any]]
        #expect(flows.map { $0["cut_short"] as? Bool } == [false, false, true, true])
        let whole = E2E.tempDir("uncut")
        let w = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", whole])
        #expect(w.status == 0 && !w.stdout.contains("cut short"))
        #expect((try E2E.json(whole + "/summary.json")["flows"] as! [[String: Any]]).allSatisfy { $0["cut_short"] as? Bool == false })
    }

    @Test func exhaustedPodCIDRLeavesThePodPendingAndTheRunGoesOn() throws {
        let dir = E2E.tempDir("cidr")
        let file = dir + "/t.yaml"
        let yaml = Self.base.replacingOccurrences(of: "  nodes:", with: "  cluster: {nodeCIDRMaskSize: 30}\n  nodes:")
            + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: second}\nspec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}\n"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try E2E.run(E2E.podwire, ["run", file, "--out", dir + "/out", "--duration", "100ms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Pending (ContainerCreating)"))
        #expect(r.stdout.contains("no IP addresses available in range set: 10.244.0.1-10.244.0.2"))
        #expect(FileManager.default.fileExists(atPath: dir + "/out/index.json"))
    }

    @Test func validateAcceptsTheShippedTopologyAndHelpWorks() throws {
        let r = try E2E.run(E2E.podwire, ["validate", "topologies/single-node.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ok"))
        let h = try E2E.run(E2E.podwire, ["--help"])
        #expect(h.status == 0 && h.stdout.contains("run") && h.stdout.contains("bench"))
    }

    @Test func svgWritesOneChartPerFlowAndOneForAll() throws {
        let dir = E2E.tempDir("svg")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/custom-profile.yaml", "--out", dir + "/out", "--svg", dir + "/svg",
                                          "--svg-bin", "50ms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("PLOTS: 3 SVG files in \(dir)/svg/"))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/svg").sorted()
        #expect(names == ["flow-1.svg", "flow-2.svg", "throughput.svg"])
        let text = try String(contentsOfFile: dir + "/svg/throughput.svg", encoding: .utf8)
        #expect(text.contains("bins of 50ms"))
        let help = try E2E.run(E2E.podwire, ["run", "--help"])
        #expect(help.stdout.contains("--svg <dir>") && help.stdout.contains("--svg-bin"))
        let lonely = try E2E.run(E2E.podwire, ["run", "topologies/custom-profile.yaml", "--svg-bin", "10ms"])
        #expect(lonely.status != 0 && lonely.stderr.contains("--svg-bin needs --svg DIR"))
    }

    /// A duration option says what is wrong with its value, and `--duration` refuses what
    /// spec.duration refuses. `--duration=-1s` used to run "-1s simulated, 0 events", and
    /// `--duration 5` said only "The value '5' is invalid".
    @Test func badDurationOptionsSayWhy() throws {
        let cases: [([String], String)] = [
            (["run", "topologies/single-node.yaml", "--duration=-1s"], "--duration -1s: a run must be longer than 0s; pass e.g. --duration 2s"),
            (["run", "topologies/single-node.yaml", "--duration", "0s"], "--duration 0s: a run must be longer than 0s"),
            (["run", "topologies/single-node.yaml", "--duration", "5"], "a duration needs a unit: write e.g. 5s or 5ms"),
            (["run", "topologies/single-node.yaml", "--svg", "/tmp/x", "--svg-bin", "3parsecs"], "unknown unit `parsecs`; units are ns, us, ms, s, m and h"),
            (["bench", "throughput", "--time", "1.2.3s"], "expected a number and a unit, e.g. 2s, 500ms or 1m30s"),
        ]
        for (arguments, message) in cases {
            let r = try E2E.run(E2E.podwire, arguments)
            #expect(r.status != 0 && r.stderr.contains(message), "\(arguments): \(r.status) \(r.stderr)")
            #expect(!r.stdout.contains("simulated"), "\(arguments) ran: \(r.stdout)")
        }
    }

    /// `-` reads the topology from standard input, as `kubectl apply -f -` does, and a pipe
    /// given by path (`/dev/stdin`, a shell's `<(…)`) is read to its end. Both used to fail
    /// with "no such file" and "permission denied or I/O error".
    @Test func topologyFromStandardInputOrAPipe() throws {
        let text = try Data(contentsOf: URL(fileURLWithPath: E2E.repo.path + "/topologies/single-node.yaml"))
        let v = try E2E.run(E2E.podwire, ["validate", "-"], stdin: text)
        #expect(v.status == 0 && v.stdout.hasPrefix("<stdin>: ok — 1 node(s), 3 pod(s)"), "\(v.stdout)\(v.stderr)")
        let piped = try E2E.run(E2E.podwire, ["validate", "/dev/stdin"], stdin: text)
        #expect(piped.status == 0 && piped.stdout.hasPrefix("/dev/stdin: ok"), "\(piped.stdout)\(piped.stderr)")
        let dir = E2E.tempDir("stdin")
        let r = try E2E.run(E2E.podwire, ["run", "-", "--out", dir + "/out", "--json"], stdin: text)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"file\": \"<stdin>\""))
        #expect(FileManager.default.fileExists(atPath: dir + "/out/index.json"))
        let bad = try E2E.run(E2E.podwire, ["validate", "-"], stdin: Data(String(decoding: text, as: UTF8.self)
            .replacingOccurrences(of: "address: 192.168.50.11/24", with: "address: 192.168.50.11").utf8))
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("<stdin>:"), "\(bad.stderr)")
        #expect(bad.stderr.contains("podwire: 1 error in <stdin>"), "\(bad.stderr)")
        let empty = try E2E.run(E2E.podwire, ["validate", "-"])
        #expect(empty.status == 2 && empty.stderr.hasPrefix("<stdin>:1:1: the file is empty"), "\(empty.stderr)")
    }

    /// 20 datagrams to a closed port draw 6 port unreachables (Linux's per-destination ICMP
    /// limit); the summary says where the other 14 went, in text and JSON.
    @Test func theSummarySaysWhichICMPErrorsTheRateLimitHeldBack() throws {
        let yaml = Self.base.replacingOccurrences(of: "  nodes:", with: """
              duration: 1s
              scenario:
                - {at: 0s, udp: {client: pod/client, server: pod/web, port: 9999, count: 20, interval: 1ms, echo: false}}
              nodes:
            """) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}\n"
        let dir = E2E.tempDir("icmp-limit")
        try yaml.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        let r = try E2E.run(E2E.podwire, ["run", dir + "/t.yaml", "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("20 datagrams of 64 B sent, 0 echoed, 6 ICMP error(s)"), "\(r.stdout)")
        #expect(r.stdout.contains("ICMP ERRORS NOT SENT (rate limit per destination: a burst of 6, then 1 a second; "
                                  + "nstat IcmpOutRateLimitHost)\n  NODE  NETNS  COUNT\n  pi-1  web       14\n"), "\(r.stdout)")
        let j = try E2E.json(dir + "/out/summary.json")
        let limited = try #require(j["icmp_rate_limited"] as? [[String: Any]])
        #expect(limited.count == 1 && limited[0]["namespace"] as? String == "web" && limited[0]["count"] as? Int == 14)
        // Without errors held back: no section, an empty list.
        let quiet = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir + "/quiet"])
        #expect(!quiet.stdout.contains("ICMP ERRORS NOT SENT"))
        #expect((try E2E.json(dir + "/quiet/summary.json")["icmp_rate_limited"] as? [Any])?.isEmpty == true)
    }

    @Test func missingFileIsAnErrorNotACrash() throws {
        let r = try E2E.run(E2E.podwire, ["run", "/nonexistent/x.yaml"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("/nonexistent/x.yaml"))
    }
}

@Suite struct OutputFolderTests {
    /// Nothing already written is lost: captures podwire did not write are never replaced.
    @Test func refusesAFolderWithSomeoneElsesPcaps() throws {
        let dir = E2E.tempDir("foreign")
        let foreign = dir + "/mine.pcap"
        try Data("not podwire's".utf8).write(to: URL(fileURLWithPath: foreign))
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir, "--duration", "10ms"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("did not write"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == Data("not podwire's".utf8))
        #expect(!FileManager.default.fileExists(atPath: dir + "/index.json"))
        // Its own folder it may replace, run after run.
        let own = E2E.tempDir("own")
        for _ in 0..<2 {
            let ok = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", own, "--duration", "10ms"])
            #expect(ok.status == 0, "\(ok.stderr)")
        }
    }
}

@Suite struct CaptureOptionsThroughTheCLITests {
    static func topology(capture: String) -> String {
        (try? String(contentsOfFile: E2E.repo.path + "/topologies/single-node.yaml", encoding: .utf8))!
            .replacingOccurrences(of: "    interfaces: [\"*\"]          # glob patterns over device names; \"*\" = every device\n", with: "")
            .replacingOccurrences(of: "  capture:                     # like tcpdump's options\n", with: "  capture: \(capture)\n")
            .replacingOccurrences(of: "    snaplen: 262144            # bytes kept per packet (tcpdump's default)\n", with: "")
            .replacingOccurrences(of: "    filter: \"\"                 # a BPF expression in tcpdump syntax, e.g. \"udp port 5201\"\n", with: "")
    }

    /// Interface globs select the files; the BPF filter (compiled by libpcap) selects frames.
    @Test func globsAndFilterSelectWhatIsWritten() throws {
        let dir = E2E.tempDir("filter")
        try Self.topology(capture: "{interfaces: [\"client/eth0\", \"cni0\"], filter: \"arp\"}")
            .write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        let r = try E2E.run(E2E.podwire, ["run", dir + "/t.yaml", "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(E2E.pcaps(in: dir + "/out") == ["pi-1-client-eth0.pcap", "pi-1-cni0.pcap"])
        guard let tshark = E2E.tool("tshark") else { return }
        for f in E2E.pcaps(in: dir + "/out") {
            let t = try E2E.run(tshark, ["-r", dir + "/out/" + f, "-T", "fields", "-e", "frame.protocols"])
            let lines = t.stdout.split(separator: "\n")
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { $0 == "eth:ethertype:arp" }, "\(f): \(lines.prefix(3))")
        }
    }

    /// "file:line:col" of the field: the capture's errors are found once the cluster exists,
    /// and used to name only the file. `validate` compiles the filter as `run` does.
    @Test func aBadFilterIsAClearErrorAndWritesNothing() throws {
        let dir = E2E.tempDir("badfilter")
        let text = Self.topology(capture: "{filter: \"udp port\"}")
        try text.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.hasPrefix("  capture: ") }) + 1
        let at = "\(dir)/t.yaml:\(line):21: spec.capture.filter: invalid capture filter \"udp port\""
        let r = try E2E.run(E2E.podwire, ["run", dir + "/t.yaml", "--out", dir + "/out"])
        #expect(r.status == 2)
        #expect(r.stderr.contains(at), "\(r.stderr)")
        #expect(E2E.pcaps(in: dir + "/out").isEmpty)
        let v = try E2E.run(E2E.podwire, ["validate", dir + "/t.yaml"])
        #expect(v.status == 2 && v.stderr.hasPrefix(at) && v.stdout.isEmpty, "\(v.stdout)\(v.stderr)")
        try Self.topology(capture: "{interfaces: [\"nomatch*\"]}").write(toFile: dir + "/n.yaml", atomically: true, encoding: .utf8)
        let n = try E2E.run(E2E.podwire, ["run", dir + "/n.yaml", "--out", dir + "/n"])
        #expect(n.status == 2)
        #expect(n.stderr.contains("\(dir)/n.yaml:\(line):25: spec.capture.interfaces: no interface matches \"nomatch*\""), "\(n.stderr)")
        // Found before the output folder is claimed, and by validate, which builds the cluster
        // to see its interfaces (it used to say "ok" for this file).
        #expect(!FileManager.default.fileExists(atPath: dir + "/n"))
        let nv = try E2E.run(E2E.podwire, ["validate", dir + "/n.yaml"])
        #expect(nv.status == 2 && nv.stderr.hasPrefix("\(dir)/n.yaml:\(line):25: spec.capture.interfaces: no interface matches"),
                "\(nv.stdout)\(nv.stderr)")
    }

    @Test func jsonSummaryOnStdoutMatchesSummaryJSON() throws {
        let dir = E2E.tempDir("json")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir, "--json", "--duration", "300ms"])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try String(contentsOfFile: dir + "/summary.json", encoding: .utf8)
        #expect(r.stdout == file)
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(j?["duration"] as? String == "300ms")
        #expect((j?["flows"] as? [[String: Any]])?.count == 4)
    }
}
