/// Node profiles a topology defines: `spec.profiles` (with or without a base, chained) and a
/// node's inline `profile: {base: …}`; every mistake with its file:line:column.

import Engine
import Testing
@testable import Topology

/// `spec.profiles:` on line 5, its entries from line 6, then `nodes:` and one node per
/// entry of `nodes` (each `- {name: pi-N, profile: P, address: 192.168.50.1N/24}`).
func profilesFile(_ profiles: [String], nodes: [String]) -> String {
    var text = Fixtures.header + "  profiles:\n"
    for p in profiles { text += "    - \(p)\n" }
    text += "  nodes:\n"
    for (i, n) in nodes.enumerated() { text += "    - {name: pi-\(i + 1), profile: \(n), address: 192.168.50.\(11 + i)/24}\n" }
    return text
}

@Suite struct ProfileTests {
    @Test func aNamedProfileOverABuiltin() throws {
        let t = try Fixtures.parse(profilesFile([
            "{name: my-pi4, base: raspberry-pi-4b-8gb, board: \"Pi 4 at 1.8 GHz\", clockMHz: 1800, cpuScale: 0.83, lineRate: 1Gbit, busCap: 300Mbit, softirqCore: 1, netdevMaxBacklog: 2000, txqueuelen: 500, memoryMB: 8192, totalRAMMiB: 7800, cores: 4, is64Bit: false, costs: {nicRx: 1400ns, vxlanEncap: 2us}}",
        ], nodes: ["my-pi4", "raspberry-pi-5"]))
        #expect(t.profiles.count == 1)
        let p = t.profiles[0]
        #expect(p.name == "my-pi4" && p.base == "raspberry-pi-4b-8gb")
        #expect(p.board == "Pi 4 at 1.8 GHz" && p.clockMHz == 1800 && p.cpuScale == 0.83)
        #expect(p.lineRate == 1_000_000_000 && p.busCap == .bitsPerSecond(300_000_000))
        #expect(p.softirqCore == 1 && p.netdevMaxBacklog == 2000 && p.txqueuelen == 500)
        #expect(p.memoryMB == 8192 && p.totalRAMMiB == 7800 && p.cores == 4 && p.is64Bit == false)
        #expect(p.costs == [StageCostSetting(stage: .nicRx, cost: .nanoseconds(1400)),
                            StageCostSetting(stage: .vxlanEncap, cost: .microseconds(2))])
        #expect(p.location.line == 6)
        #expect(t.nodes[0].profile == "my-pi4")
        #expect(t.nodes[0].hardware == p)
        #expect(t.nodes[1].profile == "raspberry-pi-5")
        #expect(t.nodes[1].hardware.name == "raspberry-pi-5" && t.nodes[1].hardware.base == "raspberry-pi-5")
        #expect(t.nodes[1].hardware.cpuScale == nil && t.nodes[1].hardware.costs.isEmpty)
    }

    @Test func aProfileStartsFromOneDefinedAboveIt() throws {
        let t = try Fixtures.parse(profilesFile([
            "{name: fast, base: raspberry-pi-4b, cpuScale: 0.5, costs: {nicRx: 1us, veth: 200ns}}",
            "{name: faster, base: fast, cpuScale: 0.25, costs: {veth: 100ns}}",
        ], nodes: ["faster"]))
        #expect(t.profiles.map(\.base) == ["raspberry-pi-4b", "fast"])
        let h = t.nodes[0].hardware
        #expect(h.name == "faster" && h.base == "raspberry-pi-4b" && h.cpuScale == 0.25)
        #expect(h.costs == [StageCostSetting(stage: .nicRx, cost: .microseconds(1)),
                            StageCostSetting(stage: .veth, cost: .nanoseconds(100))])
        #expect(h.location.line == 7)
    }

    @Test func aProfileWithoutBaseGivesEveryRequiredField() throws {
        let t = try Fixtures.parse(profilesFile([
            "{name: rock, cores: 8, clockMHz: 2400, memoryMB: 16384, totalRAMMiB: 15800, cpuScale: 0.35, lineRate: 2.5Gbit}",
        ], nodes: ["rock"]))
        let h = t.nodes[0].hardware
        #expect(h.base == nil && h.cores == 8 && h.lineRate == 2_500_000_000 && h.busCap == nil)
    }

    @Test func inlineOverrides() throws {
        let t = try Fixtures.parse(profilesFile([
            "{name: fast, base: raspberry-pi-4b, cpuScale: 0.5}",
        ], nodes: ["{base: raspberry-pi-3b-plus, cpuScale: 1.2, busCap: none}", "{base: fast, txqueuelen: 100}"]))
        let a = t.nodes[0].hardware, b = t.nodes[1].hardware
        #expect(t.nodes[0].profile == "raspberry-pi-3b-plus@pi-1")
        #expect(a.base == "raspberry-pi-3b-plus" && a.cpuScale == 1.2 && a.busCap == ProfileSpec.BusCap.none)
        #expect(a.location.line == 8 && a.location.column == 29)
        #expect(b.name == "fast@pi-2" && b.base == "raspberry-pi-4b" && b.cpuScale == 0.5 && b.txqueuelen == 100)
    }

    @Test func costsHaveEveryStageOfStageCosts() {
        #expect(StageCostName.allCases.count == 15)
        #expect(TopologyDocument.costsSchema.modelled.first == "nicRx")
    }

    // MARK: Names and bases

    @Test func unknownBaseWithDidYouMean() {
        expectError(profilesFile(["{name: mine, base: raspberry-pi-4bb, cpuScale: 0.9}"], nodes: ["mine"]),
                    line: 6, column: 26, path: "spec.profiles[0].base",
                    ["expected a base", "raspberry-pi-5", "got \"raspberry-pi-4bb\"", "did you mean `raspberry-pi-4b`?"])
    }

    @Test func unknownNodeProfileListsTheFilesOwn() {
        expectError(profilesFile(["{name: my-pi4, base: raspberry-pi-4b}"], nodes: ["my-pi5"]),
                    line: 8, column: 29, path: "spec.nodes[0].profile",
                    ["a built-in (raspberry-pi-zero-2w,", ", or one of spec.profiles (my-pi4)", "got \"my-pi5\"", "did you mean `my-pi4`?"])
    }

    @Test func aNodeNamingAnInvalidProfileIsNotReportedAgain() {
        let errors = Fixtures.errors(profilesFile(["{name: bad, base: nowhere}"], nodes: ["bad"]))
        #expect(errors.map(\.path) == ["spec.profiles[0].base"])
    }

    @Test func baseCandidatesAreTheProfilesAbove() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b}", "{name: b, base: nothing-here}", "{name: c, base: raspberry-pi-5}"], nodes: ["a"]),
                    line: 7, column: 23, path: "spec.profiles[1].base", ["expected a base", ", or a profile defined above (a); got \"nothing-here\""])
        expectError(profilesFile(["{name: b, base: b2}"], nodes: ["b"]),
                    line: 6, column: 23, path: "spec.profiles[0].base", ["raspberry-pi-5-8gb); got \"b2\"", "pick the built-in board"])
    }

    @Test func baseDefinedBelow() {
        expectError(profilesFile(["{name: a, base: b}", "{name: b, base: raspberry-pi-4b}"], nodes: ["a"]),
                    line: 6, column: 23, path: "spec.profiles[0].base",
                    ["base \"b\" is defined below this profile (line 7)", "move profile b above this one"])
    }

    @Test func baseNamesItself() {
        expectError(profilesFile(["{name: a, base: a}"], nodes: ["a"]),
                    line: 6, column: 23, path: "spec.profiles[0].base", ["names itself as its base"])
    }

    @Test func duplicateName() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b}", "{name: a, base: raspberry-pi-5}"], nodes: ["a"]),
                    line: 7, column: 14, path: "spec.profiles[1].name", ["duplicate profile name \"a\"", "line 6"])
    }

    @Test func aBuiltinCannotBeRedefined() {
        expectError(profilesFile(["{name: raspberry-pi-4b, cpuScale: 0.9}"], nodes: ["raspberry-pi-4b"]),
                    line: 6, column: 14, path: "spec.profiles[0].name",
                    ["is a built-in profile's", "`name: raspberry-pi-4b-custom`, `base: raspberry-pi-4b`"])
    }

    @Test func badName() {
        expectError(profilesFile(["{name: My_Pi, base: raspberry-pi-4b}"], nodes: ["raspberry-pi-4b"]),
                    line: 6, column: 14, path: "spec.profiles[0].name", ["DNS-1123 label", "\"My_Pi\""])
    }

    @Test func missingName() {
        expectError(profilesFile(["{base: raspberry-pi-4b, cpuScale: 0.9}"], nodes: ["raspberry-pi-4b"]),
                    line: 6, column: 7, path: "spec.profiles[0]", ["missing required field `name`"])
    }

    @Test func withoutBaseEveryRequiredFieldIsNeeded() {
        expectError(profilesFile(["{name: rock, cores: 8, clockMHz: 2400, cpuScale: 0.35}"], nodes: ["rock"]),
                    line: 6, column: 7, path: "spec.profiles[0]",
                    ["profile \"rock\" has no `base`", "missing `memoryMB`, `totalRAMMiB`, `lineRate`", "add `base: raspberry-pi-4b`"])
        expectError(profilesFile([], nodes: ["{cpuScale: 0.9}"]),
                    line: 7, column: 29, path: "spec.nodes[0].profile",
                    ["the inline profile of pi-1 has no `base`", "`cores`", "`lineRate`"])
    }

    @Test func aMisspeltFieldIsNotAlsoMissing() {
        let errors = Fixtures.errors(profilesFile(
            ["{name: rock, coers: 8, clockMHz: 2400, memoryMB: 1024, totalRAMMiB: 900, cpuScale: 1, lineRate: 1Gbit}"], nodes: ["rock"]))
        #expect(errors.map(\.path) == ["spec.profiles[0].coers"])
        #expect(errors.first?.hint == "did you mean `cores`?")
    }

    @Test func inlineProfileWithAName() {
        expectError(profilesFile([], nodes: ["{name: x, base: raspberry-pi-4b}"]),
                    line: 7, column: 30, path: "spec.nodes[0].profile.name",
                    ["an inline profile has no name", "define it under `spec.profiles`"])
    }

    @Test func profilesMustBeAList() {
        expectError(Fixtures.header + "  profiles: {name: a}\n" + Fixtures.oneNode,
                    line: 5, column: 13, path: "spec.profiles", ["expected a list of profiles", "got a mapping"])
        expectError(profilesFile(["my-pi4"], nodes: ["raspberry-pi-4b"]),
                    line: 6, column: 7, path: "spec.profiles[0]", ["expected a profile (a mapping", "got \"my-pi4\""])
        expectError(profilesFile([], nodes: ["[raspberry-pi-4b]"]),
                    line: 7, column: 29, path: "spec.nodes[0].profile", ["expected a profile: a built-in name", "got a list"])
    }

    // MARK: Fields

    @Test func unknownFieldWithDidYouMean() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cpuscale: 0.9}"], nodes: ["a"]),
                    line: 6, column: 40, path: "spec.profiles[0].cpuscale", ["unknown field `cpuscale` in a profile", "did you mean `cpuScale`?"])
    }

    @Test func unknownStageWithDidYouMean() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, costs: {vxlanEncp: 2us}}"], nodes: ["a"]),
                    line: 6, column: 48, path: "spec.profiles[0].costs.vxlanEncp", ["unknown field `vxlanEncp`", "did you mean `vxlanEncap`?"])
    }

    @Test func badRates() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, lineRate: 1G}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].lineRate", ["unit `G` is not one of tc's", "did you mean `1Gbit`?"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, lineRate: 1000}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].lineRate", ["bare number 1000", "1000Mbit"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, busCap: -300Mbit}"], nodes: ["a"]),
                    line: 6, column: 48, path: "spec.profiles[0].busCap", ["expected a positive rate or `none`", "negative", "`busCap: 300Mbit`"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, busCap: nothing}"], nodes: ["a"]),
                    line: 6, column: 48, path: "spec.profiles[0].busCap", ["like 100Mbit, 1Gbit or 500kbit or `none`", "\"nothing\""])
    }

    @Test func badNumbers() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cpuScale: -0.5}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].cpuScale", ["above 0 and at most 1000", "got -0.5, which is negative"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cpuScale: 0}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].cpuScale", ["above 0", "got 0"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cpuScale: \"0.8\"}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].cpuScale", ["got the string \"0.8\"", "remove the quotes"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cpuScale: fast}"], nodes: ["a"]),
                    line: 6, column: 50, path: "spec.profiles[0].cpuScale", ["a CPU cost multiplier", "got \"fast\"", "`cpuScale: 0.83`"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, cores: -4}"], nodes: ["a"]),
                    line: 6, column: 47, path: "spec.profiles[0].cores", ["number of CPU cores between 1 and 1024", "got -4"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, txqueuelen: 0}"], nodes: ["a"]),
                    line: 6, column: 52, path: "spec.profiles[0].txqueuelen", ["txqueuelen", "between 1 and 1000000", "got 0"])
    }

    @Test func badCosts() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, costs: {nicRx: -1us}}"], nodes: ["a"]),
                    line: 6, column: 55, path: "spec.profiles[0].costs.nicRx", ["duration of 0s or more", "-1us"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, costs: {nicRx: 1500}}"], nodes: ["a"]),
                    line: 6, column: 55, path: "spec.profiles[0].costs.nicRx", ["bare number 1500", "1500s"])
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, costs: [nicRx]}"], nodes: ["a"]),
                    line: 6, column: 47, path: "spec.profiles[0].costs", ["a mapping of stage costs", "got a list"])
    }

    // MARK: Between fields

    @Test func softirqCoreMustBeACore() {
        expectError(profilesFile(["{name: a, cores: 2, clockMHz: 1000, memoryMB: 1024, totalRAMMiB: 900, cpuScale: 2, lineRate: 100Mbit, softirqCore: 2}"], nodes: ["a"]),
                    line: 6, column: 122, path: "spec.profiles[0].softirqCore",
                    ["softirqCore 2 is not a core of this 2-core board (cores are numbered 0 to 1)"])
        // The cores come from the built-in base.
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, softirqCore: 4}"], nodes: ["a"]),
                    line: 6, column: 53, path: "spec.profiles[0].softirqCore", ["not a core of this 4-core board"])
        // The softirq core comes from a base profile; the cores written here are blamed.
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, softirqCore: 3}", "{name: b, base: a, cores: 2}"], nodes: ["b"]),
                    line: 7, column: 33, path: "spec.profiles[1].cores", ["softirqCore 3 is not a core of this 2-core board"])
        // Inline, over the built-in.
        expectError(profilesFile([], nodes: ["{base: raspberry-pi-4b, softirqCore: 7}"]),
                    line: 7, column: 66, path: "spec.nodes[0].profile.softirqCore", ["softirqCore 7 is not a core of this 4-core board"])
    }

    @Test func totalRAMWithinMemory() {
        expectError(profilesFile(["{name: a, base: raspberry-pi-4b, totalRAMMiB: 5000}"], nodes: ["a"]),
                    line: 6, column: 53, path: "spec.profiles[0].totalRAMMiB",
                    ["totalRAMMiB 5000 is more than the board's memoryMB 4096", "MemTotal"])
        expectError(profilesFile([], nodes: ["{base: raspberry-pi-4b-8gb, memoryMB: 4096}"]),
                    line: 7, column: 67, path: "spec.nodes[0].profile.memoryMB", ["totalRAMMiB 7810 is more than the board's memoryMB 4096"])
    }
}
