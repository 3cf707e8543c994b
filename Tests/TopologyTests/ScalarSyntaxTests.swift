/// Go durations, iperf3 bitrates, tc rates, node port ranges, Kubernetes names and labels,
/// Linux interface names, and did-you-mean distances.

import Engine
import Testing
@testable import Topology

@Suite struct ScalarSyntaxTests {
    @Test(arguments: [
        ("2s", Int64(2_000_000_000)), ("200ms", 200_000_000), ("1.5s", 1_500_000_000), ("100us", 100_000),
        ("100µs", 100_000), ("1m30s", 90_000_000_000), ("1h", 3_600_000_000_000), ("7ns", 7), ("0", 0),
        ("-1s", -1_000_000_000), ("0.5s", 500_000_000), (".5s", 500_000_000), ("1.000000001s", 1_000_000_001),
        ("2h45m10.5s", 9_910_500_000_000), ("1.s", 1_000_000_000),
    ])
    func goDurations(text: String, nanoseconds: Int64) {
        #expect(DurationSyntax.parse(text) == .success(SimDuration(nanoseconds: nanoseconds)))
    }

    @Test func durationFailures() {
        #expect(DurationSyntax.parse("2") == .failure(.missingUnit))
        #expect(DurationSyntax.parse("1.5") == .failure(.missingUnit))
        #expect(DurationSyntax.parse("1s5") == .failure(.missingUnit))
        #expect(DurationSyntax.parse("2sec") == .failure(.unknownUnit("sec")))
        #expect(DurationSyntax.parse("") == .failure(.malformed))
        #expect(DurationSyntax.parse("s") == .failure(.malformed))
        #expect(DurationSyntax.parse(".s") == .failure(.malformed))
        #expect(DurationSyntax.parse("3000000h") == .failure(.overflow))
        #expect(DurationSyntax.parse("99999999999999999999999s") == .failure(.overflow))
    }

    @Test func tcRates() {
        #expect(TCRateSyntax.parse("100Mbit") == .success(100_000_000))
        #expect(TCRateSyntax.parse("1gbit") == .success(1_000_000_000))
        #expect(TCRateSyntax.parse("1.5GBIT") == .success(1_500_000_000))
        #expect(TCRateSyntax.parse("500kbit") == .success(500_000))
        #expect(TCRateSyntax.parse("64bit") == .success(64))
        #expect(TCRateSyntax.parse("1mibit") == .success(1_048_576))
        #expect(TCRateSyntax.parse("10mbps") == .success(80_000_000))   // tc's bps is bytes per second
        #expect(TCRateSyntax.parse("100") == .failure(.missingUnit))
        #expect(TCRateSyntax.parse("100M") == .failure(.unknownUnit("M")))
        #expect(TCRateSyntax.parse("fast") == .failure(.malformed))
        #expect(TCRateSyntax.parse("1..5mbit") == .failure(.malformed))
        #expect(TCRateSyntax.parse("-5mbit") == .failure(.malformed))
        #expect(TCRateSyntax.parse("0mbit") == .failure(.outOfRange))
        #expect(TCRateSyntax.parse("99999999tbit") == .failure(.outOfRange))
    }

    @Test func nodePortRanges() {
        #expect(PortRangeSyntax.parse("30000-32767") == 30000...32767)
        #expect(PortRangeSyntax.parse("30000+2767") == 30000...32767)
        #expect(PortRangeSyntax.parse("30080") == 30080...30080)
        #expect(PortRangeSyntax.parse("1-65535") == 1...65535)
        #expect(PortRangeSyntax.parse("32767-30000") == nil)
        #expect(PortRangeSyntax.parse("0-100") == nil)
        #expect(PortRangeSyntax.parse("30000-70000") == nil)
        #expect(PortRangeSyntax.parse("65000+1000") == nil)
        #expect(PortRangeSyntax.parse("30000-") == nil)
        #expect(PortRangeSyntax.parse("") == nil)
    }

    @Test func serviceNames() {
        #expect(NameSyntax.isDNS1035Label("web"))
        #expect(NameSyntax.isDNS1035Label("web-1"))
        #expect(!NameSyntax.isDNS1035Label("1web"))
        #expect(!NameSyntax.isDNS1035Label("web-"))
        #expect(!NameSyntax.isDNS1035Label("Web"))
    }

    @Test func linuxInterfaceNames() {
        #expect(NameSyntax.isInterfaceName("p1"))
        #expect(NameSyntax.isInterfaceName("br-lan.100"))
        #expect(NameSyntax.isInterfaceName("abcdefghijklmno"))          // 15 bytes
        #expect(!NameSyntax.isInterfaceName("abcdefghijklmnop"))        // 16 bytes: IFNAMSIZ
        #expect(!NameSyntax.isInterfaceName(""))
        #expect(!NameSyntax.isInterfaceName("."))
        #expect(!NameSyntax.isInterfaceName(".."))
        #expect(!NameSyntax.isInterfaceName("a/b"))
        #expect(!NameSyntax.isInterfaceName("a:b"))
        #expect(!NameSyntax.isInterfaceName("a b"))
        #expect(!NameSyntax.isInterfaceName("a\tb"))
    }

    @Test func iperf3Bitrates() {
        #expect(BitrateSyntax.parse("100M") == 100_000_000)
        #expect(BitrateSyntax.parse("10m") == 10_000_000)
        #expect(BitrateSyntax.parse("1.5G") == 1_500_000_000)
        #expect(BitrateSyntax.parse("64K") == 64_000)
        #expect(BitrateSyntax.parse("800000") == 800_000)
        #expect(BitrateSyntax.parse("0") == 0)       // -b 0: unlimited
        #expect(BitrateSyntax.parse("0M") == 0)
        #expect(BitrateSyntax.parse("0.0000001") == nil)  // rounds to 0 bit/s: not "unlimited"
        #expect(BitrateSyntax.parse("M") == nil)
        #expect(BitrateSyntax.parse("1e6") == nil)
        #expect(BitrateSyntax.parse("1..5M") == nil)
        #expect(BitrateSyntax.parse("-5M") == nil)
        #expect(BitrateSyntax.parse("99999999T") == nil)
    }

    @Test func kubernetesNames() {
        #expect(NameSyntax.isDNS1123Label("pi-1"))
        #expect(!NameSyntax.isDNS1123Label("Pi-1"))
        #expect(!NameSyntax.isDNS1123Label("-a"))
        #expect(!NameSyntax.isDNS1123Label(String(repeating: "a", count: 64)))
        #expect(NameSyntax.isDNS1123Subdomain("web.v1"))
        #expect(!NameSyntax.isDNS1123Subdomain("web..v1"))
        #expect(NameSyntax.isLabelKey("app.kubernetes.io/name"))
        #expect(NameSyntax.isLabelKey("Tier_2"))
        #expect(!NameSyntax.isLabelKey("bad key"))
        #expect(!NameSyntax.isLabelKey("a/b/c"))
        #expect(NameSyntax.isLabelValue(""))
        #expect(!NameSyntax.isLabelValue("-x"))
        #expect(NameSyntax.isPortName("http"))
        #expect(!NameSyntax.isPortName("8080"))
        #expect(!NameSyntax.isPortName("very-long-port-name"))
    }

    @Test func suggestions() {
        #expect(Suggestions.closest(to: "contianers", in: ["containers", "initContainers"]) == "containers")
        #expect(Suggestions.closest(to: "PodSubnet", in: ["podSubnet"]) == "podSubnet")
        #expect(Suggestions.closest(to: "routers", in: ["nodes", "scenario"]) == nil)
        #expect(Suggestions.distance(Array("ab".unicodeScalars), Array("ba".unicodeScalars)) == 1)
        #expect(Suggestions.distance(Array("".unicodeScalars), Array("abc".unicodeScalars)) == 3)
    }
}
