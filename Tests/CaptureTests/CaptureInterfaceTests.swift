/// Interface selection by glob: the four names a pattern is tried against, fnmatch's
/// `* ? [..]`, `*` never crossing "/", several patterns as a union.
import Capture
import Testing

@Suite struct CaptureInterfaceTests {
    static func select(_ globs: [String]) -> [String] {
        CaptureOptions(directory: "unused", interfaceGlobs: globs)
            .selected(from: SampleCluster.interfaces).map(\.fileStem).sorted()
    }

    static let all = SampleCluster.interfaces.map(\.fileStem).sorted()

    @Test(arguments: [
        (["*"], all),
        (["eth0"], ["pi-1-client-eth0", "pi-1-eth0", "pi-2-eth0", "pi-2-server-eth0"]),
        (["client/*"], ["pi-1-client-eth0", "pi-1-client-lo"]),
        // namespace/interface: the node's own namespace only; node/namespace/interface: all of it.
        (["pi-1/*"], ["pi-1-cni0", "pi-1-eth0", "pi-1-lo", "pi-1-veth1a2b3c4d"]),
        (["pi-1/*/*"], ["pi-1-client-eth0", "pi-1-client-lo", "pi-1-cni0", "pi-1-eth0", "pi-1-lo",
                        "pi-1-veth1a2b3c4d"]),
        (["*/server/eth0"], ["pi-2-server-eth0"]),
        (["pi-2-*"], ["pi-2-eth0", "pi-2-server-eth0"]),
        (["pi-1-client-eth0"], ["pi-1-client-eth0"]),
        (["veth*"], ["pi-1-veth1a2b3c4d"]),
        (["?ni0"], ["pi-1-cni0"]),
        (["[cl]*"], ["pi-1-client-lo", "pi-1-cni0", "pi-1-lo"]),
        (["lo", "cni0"], ["pi-1-client-lo", "pi-1-cni0", "pi-1-lo"]),
        (["wlan0"], []),
        ([], []),
    ] as [([String], [String])])
    func globSelection(globs: [String], expected: [String]) {
        #expect(Self.select(globs) == expected)
    }

    @Test func starDoesNotCrossSlash() {
        let client = SampleCluster.interfaces.first { $0.fileStem == "pi-1-client-eth0" }!
        #expect(client.matches(glob: "pi-1/*/eth0"))
        #expect(!client.matches(glob: "pi-1/*"))
        #expect(client.matches(glob: "*/eth0"))
        #expect(!client.matches(glob: "pi-1/*eth0"))
        #expect(client.matches(glob: "pi-1*eth0"), "through the file stem, which has no \"/\"")
    }

    @Test func noMatchErrorExplainsThePatternForms() {
        let message = CaptureError.noInterfaceMatches(globs: ["wlan*"]).description
        #expect(message.contains("\"wlan*\""))
        #expect(message.contains("node/namespace/interface"))
        #expect(CaptureError.noInterfaceMatches(globs: []).description.contains("(no patterns)"))
    }
}
