/// Switches, links (containerlab endpoints, tc rates) and host routes.

import Engine
import Testing
import Wire
@testable import Topology

/// Nodes pi-1 and pi-2 (lines 6-7), host ext (line 8), then `extra` from line 9.
func lanFile(_ extra: String) -> String {
    Fixtures.header + """
          nodes:
            - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
            - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
          hosts: [{name: ext, address: 192.168.50.100/24}]

        """ + extra
}

@Suite struct LinkTests {
    @Test func switchesAndLinks() throws {
        let t = try Fixtures.parse(lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-1:eth0", "sw1:p1"], rate: 100Mbit, delay: 50us}
                - {endpoints: ["sw1:p2", "pi-2:eth0"]}
                - {endpoints: ["ext:eth0", "sw1:eth3"], rate: 1.5gbit, delay: 0s}
            """))
        #expect(t.switches.map(\.name) == ["sw1"])
        #expect(t.switches[0].location.line == 9)
        #expect(t.links.count == 3)
        #expect(t.links.map(\.endpoints.0.description) == ["pi-1:eth0", "sw1:p2", "ext:eth0"])
        #expect(t.links.map(\.endpoints.1) == [LinkEndpointSpec(machine: "sw1", interface: "p1"),
                                                LinkEndpointSpec(machine: "pi-2", interface: "eth0"),
                                                LinkEndpointSpec(machine: "sw1", interface: "eth3")])
        #expect(t.links.map(\.rateBitsPerSecond) == [100_000_000, nil, 1_500_000_000])
        #expect(t.links.map(\.delay) == [.microseconds(50), nil, .zero])
        #expect(t.links.map(\.location.line) == [11, 12, 13])
    }

    @Test func withoutSwitchesAndLinksNothingChanges() throws {
        let t = try TopologyFile.load(path: Fixtures.defaultFilePath)
        #expect(t.switches.isEmpty && t.links.isEmpty)
        #expect(t.hosts.allSatisfy { $0.routes.isEmpty })
    }

    @Test func aCrossoverCableBetweenTheOnlyTwoMachines() throws {
        let t = try Fixtures.parse(Fixtures.header + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
              links: [{endpoints: ["pi-1:eth0", "pi-2:eth0"], rate: 1Gbit}]
            """)
        #expect(t.switches.isEmpty)
        #expect(t.links.map(\.endpoints.1.machine) == ["pi-2"])
    }

    @Test func linksWithoutSwitchesAreCrossoverCablesOnly() {
        expectError(lanFile("  links: [{endpoints: [\"pi-1:eth0\", \"lan:p1\"]}]\n"),
                    line: 9, column: 37, path: "spec.links[0].endpoints[1]",
                    ["endpoint \"lan:p1\" names no node, host or switch", "no switches", "`switches: [{name: lan}]`"])
    }

    @Test func oneNodeWithHosts() throws {
        let implicit = try Fixtures.parse(Fixtures.header + Fixtures.oneNode + "  hosts: [{name: ext, address: 192.168.50.100/24}]\n")
        #expect(implicit.nodes.count == 1 && implicit.hosts.count == 1)
        let cabled = try Fixtures.parse(Fixtures.header + Fixtures.oneNode + """
              hosts: [{name: ext, address: 192.168.50.100/24}, {name: nas, address: 192.168.50.101/24}]
              switches: [{name: lan}]
              links: [{endpoints: ["pi-1:eth0", "lan:p1"]}, {endpoints: ["ext:eth0", "lan:p2"]}, {endpoints: ["nas:eth0", "lan:p3"]}]
            """)
        #expect(cabled.links.count == 3)
    }

    @Test func switchNames() {
        expectError(lanFile("  switches: [{name: SW1}, {name: sw2}, {name: sw2}, {name: pi-1}]\n  links: []\n"),
                    line: 9, column: 21, path: "spec.switches[0].name", ["DNS-1123 label", "got \"SW1\"", "`sw1`"])
        expectError(lanFile("  switches: [{name: SW1}, {name: sw2}, {name: sw2}, {name: pi-1}]\n  links: []\n"),
                    line: 9, column: 47, path: "spec.switches[2].name", ["duplicate switch name \"sw2\"", "line 9", "e.g. `sw1`"])
        expectError(lanFile("  switches: [{name: SW1}, {name: sw2}, {name: sw2}, {name: pi-1}]\n  links: []\n"),
                    line: 9, column: 60, path: "spec.switches[3].name", ["already the name of a node", "share one name space"])
    }

    @Test func switchesNeedLinks() {
        expectError(lanFile("  switches: [{name: sw1}]\n"),
                    line: 9, column: 13, path: "spec.switches", ["spec.switches needs spec.links", "connects nothing", "\"sw1:p1\""])
    }

    @Test func endpointsNameMachinesOrSwitches() {
        let yaml = lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-3:eth0", "sw1:p1"]}
                - {endpoints: ["pi-2", "sw1:p2"]}
                - {endpoints: ["ext:eth0", "sw1:p3", "sw1:p4"]}
            """)
        expectError(yaml, line: 11, column: 20, path: "spec.links[0].endpoints[0]",
                    ["endpoint \"pi-3:eth0\" names no node, host or switch; nodes: pi-1, pi-2; hosts: ext; switches: sw1", "did you mean `pi-1`?"])
        expectError(yaml, line: 12, column: 20, path: "spec.links[1].endpoints[0]", ["expected an endpoint \"machine:interface\"", "\"pi-2:eth0\""])
        expectError(yaml, line: 13, column: 19, path: "spec.links[2].endpoints", ["exactly two endpoints", "got 3", "one link per cable"])
        // A wrong endpoint is not also reported as a machine without a link.
        #expect(!Fixtures.errors(yaml).contains { $0.message.contains("is in no link") })
    }

    @Test func oneNICPerMachine() {
        let yaml = lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-1:eth1", "sw1:p1"]}
                - {endpoints: ["pi-2:eth0", "sw1:p2"]}
                - {endpoints: ["pi-2:eth0", "sw1:p3"]}
                - {endpoints: ["ext:eth0", "sw1:p3"]}
            """)
        expectError(yaml, line: 11, column: 20, path: "spec.links[0].endpoints[0]", ["podwire models one NIC per machine, eth0; got \"pi-1:eth1\"", "\"pi-1:eth0\""])
        expectError(yaml, line: 13, column: 20, path: "spec.links[2].endpoints[0]", ["pi-2 is cabled twice", "line 12 (spec.links[1])"])
        expectError(yaml, line: 14, column: 32, path: "spec.links[3].endpoints[1]", ["switch port sw1:p3 is already cabled (line 13)", "\"sw1:p4\""])
        // pi-1's cable on eth1 is still its cable: no knock-on "in no link".
        #expect(Fixtures.errors(yaml).count == 3)
    }

    @Test func everyMachineNeedsACable() {
        let yaml = lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-1:eth0", "sw1:p1"]}
            """)
        expectError(yaml, line: 11, column: 5, path: "spec.links", ["node pi-2 is in no link", "exactly one cable", "[\"pi-2:eth0\", \"sw1:p2\"]"])
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 2)
        #expect(errors.last?.description == """
            t.yaml:11:5: spec.links: host ext is in no link; when spec.links is given, every node and host needs exactly one cable to its eth0
              hint: add `- endpoints: ["ext:eth0", "sw1:p3"]`
            """)
    }

    @Test func crossoverCablesOnlyBetweenTheOnlyTwoMachines() {
        expectError(lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-1:eth0", "pi-2:eth0"]}
                - {endpoints: ["ext:eth0", "sw1:p1"]}
            """), line: 11, column: 7, path: "spec.links[0]",
                    ["crossover cable between pi-1 and pi-2 (no switch) works only when they are the only two machines", "ext could not reach them", "cable every machine to a switch"])
    }

    @Test func switchLoopsAreRefused() {
        let triangle = lanFile("""
              switches: [{name: sw1}, {name: sw2}, {name: sw3}]
              links:
                - {endpoints: ["pi-1:eth0", "sw1:p1"]}
                - {endpoints: ["pi-2:eth0", "sw2:p1"]}
                - {endpoints: ["ext:eth0", "sw3:p1"]}
                - {endpoints: ["sw1:up", "sw2:up"]}
                - {endpoints: ["sw2:down", "sw3:up"]}
                - {endpoints: ["sw3:down", "sw1:down"]}
            """)
        expectError(triangle, line: 16, column: 7, path: "spec.links[5]",
                    ["this link closes a loop sw1 → sw2 → sw3 → sw1 (links on lines 14, 15, 16)", "no STP", "remove one link of the loop"])
        let parallel = lanFile("""
              switches: [{name: sw1}, {name: sw2}]
              links:
                - {endpoints: ["pi-1:eth0", "sw1:p1"]}
                - {endpoints: ["pi-2:eth0", "sw2:p1"]}
                - {endpoints: ["ext:eth0", "sw2:p2"]}
                - {endpoints: ["sw1:a", "sw2:a"]}
                - {endpoints: ["sw2:b", "sw1:b"]}
            """)
        expectError(parallel, line: 15, column: 7, path: "spec.links[4]", ["closes a loop sw1 → sw2 → sw1 (links on lines 14, 15)"])
    }

    @Test func switchPortNamesAreLinuxInterfaceNames() {
        let yaml = lanFile("""
              switches: [{name: sw1}]
              links:
                - {endpoints: ["pi-1:eth0", "sw1:port-sixteen-chr"]}
                - {endpoints: ["pi-2:eth0", "sw1:p 2"]}
                - {endpoints: ["ext:eth0", "sw1:p3"]}
                - {endpoints: ["sw1:p4", "sw1:p5"]}
            """)
        expectError(yaml, line: 11, column: 33, path: "spec.links[0].endpoints[1]", ["Linux interface name", "1-15 characters", "got \"port-sixteen-chr\""])
        expectError(yaml, line: 12, column: 33, path: "spec.links[1].endpoints[1]", ["got \"p 2\""])
        expectError(yaml, line: 14, column: 30, path: "spec.links[3].endpoints[1]", ["this link joins sw1 to itself"])
    }

    @Test func ratesAndDelays() {
        let yaml = lanFile("""
              links:
                - {endpoints: ["pi-1:eth0", "pi-2:eth0"], rate: 100M, delay: -1ms}
                - {endpoints: ["pi-1:eth0", "pi-2:eth0"], rate: 100, dely: 1ms}
                - {endpoints: ["pi-1:eth0", "pi-2:eth0"], rate: fast}
                - {endpoints: ["pi-1:eth0", "pi-2:eth0"], rate: 10mbits}
            """)
        expectError(yaml, line: 10, column: 53, path: "spec.links[0].rate", ["unit `M` is not one of tc's", "did you mean `100Mbit`?"])
        expectError(yaml, line: 10, column: 66, path: "spec.links[0].delay", ["0s or more"])
        expectError(yaml, line: 11, column: 53, path: "spec.links[1].rate", ["got the bare number 100", "100Mbit", "bit/s"])
        expectError(yaml, line: 11, column: 58, path: "spec.links[1].dely", ["unknown field `dely`", "did you mean `delay`?"])
        expectError(yaml, line: 12, column: 53, path: "spec.links[2].rate", ["a rate with a tc unit, like 100Mbit", "got \"fast\""])
        expectError(yaml, line: 13, column: 53, path: "spec.links[3].rate", ["did you mean `mbit`?"])
    }
}

@Suite struct HostRouteTests {
    @Test func routes() throws {
        let t = try Fixtures.parse(Fixtures.header + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
              hosts:
                - name: ext
                  address: 192.168.50.100/24
                  routes:
                    - {to: 10.244.1.0/24, via: 192.168.50.12}
                    - {to: default, via: 192.168.50.11}
                - {name: nas, address: 192.168.50.101/24}
            """)
        #expect(t.hosts[0].routes == [RouteSpec(destination: IPv4Network("10.244.1.0/24")!, via: IPv4Address("192.168.50.12")!),
                                      RouteSpec(destination: IPv4Network("0.0.0.0/0")!, via: IPv4Address("192.168.50.11")!)])
        #expect(t.hosts[1].routes.isEmpty)
    }

    /// One host (line 9) with `routes` from line 10.
    private func routes(_ lines: String) -> String {
        lanFile("").replacingOccurrences(of: "  hosts: [{name: ext, address: 192.168.50.100/24}]\n", with: "")
            + "  hosts:\n    - name: ext\n      address: 192.168.50.100/24\n      routes:\n" + lines
    }

    @Test func nextHopsAreOnTheHostsSubnet() {
        let yaml = routes("""
                    - {to: 10.244.1.0/24, via: 192.168.60.12}
                    - {to: 10.244.2.0/24, via: 192.168.50.100}
                    - {to: 10.244.3.0/24, via: 192.168.50.255}
                    - {to: 10.244.4.0/24, via: 192.168.50.12/24}
            """)
        expectError(yaml, line: 12, column: 36, path: "spec.hosts[0].routes[0].via",
                    ["next hop 192.168.60.12 is not on ext's subnet 192.168.50.0/24", "Nexthop has invalid gateway"])
        expectError(yaml, line: 13, column: 36, path: "spec.hosts[0].routes[1].via", ["ext's own address"])
        expectError(yaml, line: 14, column: 36, path: "spec.hosts[0].routes[2].via", ["broadcast address of 192.168.50.0/24"])
        expectError(yaml, line: 15, column: 36, path: "spec.hosts[0].routes[3].via", ["without a prefix length", "`via: 192.168.50.12`"])
    }

    @Test func destinations() {
        let yaml = routes("""
                    - {to: 10.244.1.0/24, via: 192.168.50.12}
                    - {to: 10.244.1.0/24, via: 192.168.50.11}
                    - {to: 192.168.50.0/24, via: 192.168.50.11}
                    - {to: 10.244.2.5/24, via: 192.168.50.11}
                    - {to: defualt, via: 192.168.50.11}
                    - {via: 192.168.50.11}
            """)
        expectError(yaml, line: 13, column: 16, path: "spec.hosts[0].routes[1].to", ["duplicate route to 10.244.1.0/24", "line 12", "File exists"])
        expectError(yaml, line: 14, column: 16, path: "spec.hosts[0].routes[2].to", ["ext is on 192.168.50.0/24 already"])
        expectError(yaml, line: 15, column: 16, path: "spec.hosts[0].routes[3].to", ["host bits clear", "did you mean 10.244.2.0/24?"])
        expectError(yaml, line: 16, column: 16, path: "spec.hosts[0].routes[4].to", ["IPv4 network in CIDR notation", "got \"defualt\""])
        expectError(yaml, line: 17, column: 11, path: "spec.hosts[0].routes[5]", ["missing required field `to`"])
    }
}
