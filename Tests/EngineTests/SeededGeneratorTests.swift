/// Tests for SeededGenerator.swift: known-answer vectors against Vigna's reference C code,
/// stream derivation, the uniform and exponential helpers and the libm-free logarithm.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Engine

// Expected values come from compiling Sebastiano Vigna's reference implementations with
// gcc: https://prng.di.unimi.it/splitmix64.c and https://prng.di.unimi.it/xoshiro256starstar.c
// (next() copied verbatim; the harness seeds xoshiro with four splitmix64 outputs and applies
// podwire's documented stream derivation, SplitMix64(SplitMix64(seed) ^ FNV-1a-64(name))).

@Test func splitMix64MatchesReferenceFromZero() {
    var sm = SplitMix64(state: 0)
    let expected: [UInt64] = [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F,
                              0xF88B_B8A8_724C_81EC, 0x1B39_896A_51A8_749B]
    #expect((0..<5).map { _ in sm.next() } == expected)
}

@Test func splitMix64MatchesReferenceFromOtherState() {
    var sm = SplitMix64(state: 1_234_567)
    let expected: [UInt64] = [0x599E_D017_FB08_FC85, 0x2C73_F084_5854_0FA5, 0x883E_BCE5_A3F2_7C77,
                              0x3FBE_F740_E917_7B3F, 0xE3B8_3467_08CB_5ECD]
    #expect((0..<5).map { _ in sm.next() } == expected)
}

@Test func xoshiro256StarStarMatchesReferenceFromRawState() {
    var g = SeededGenerator(seed: 0, rawState: 1, 2, 3, 4)
    let expected: [UInt64] = [0x0000_0000_0000_2D00, 0x0000_0000_0000_0000, 0x0000_0000_5A00_7080,
                              0x10E0_0000_0000_9D80, 0x10E0_B61C_E100_9D80, 0x0870_021C_E143_AD00]
    #expect((0..<6).map { _ in g.next() } == expected)
}

@Test func seedingUsesFourSplitMixOutputs() {
    let g = SeededGenerator(seed: 42)
    #expect([g.s0, g.s1, g.s2, g.s3] == [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103,
                                         0x4752_6757_130F_9F52, 0x581C_E1FF_0E4A_E394])
    var h = SeededGenerator(seed: 42)
    let expected: [UInt64] = [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1,
                              0xECB8_AD47_03B3_60A1, 0xFDE6_DC7F_E2EC_5E64]
    #expect((0..<5).map { _ in h.next() } == expected)
    var zero = SeededGenerator(seed: 0)
    #expect((0..<3).map { _ in zero.next() } == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
}

@Test func streamDerivationMatchesReferenceHarness() {
    var hold = SeededGenerator(seed: 1).stream("hold")
    #expect(hold.seed == 0x8B98_3F91_BABC_AFFC)
    #expect((0..<3).map { _ in hold.next() } == [0xF7D5_DCAD_3432_FB3C, 0x081A_AC1A_7E62_FE76, 0x53B1_60F3_7089_37BD])
}

@Test func sameSeedAndNameGiveTheSameStream() {
    var a = SeededGenerator(seed: 7).stream("link-loss")
    var b = SeededGenerator(seed: 7).stream("link-loss")
    #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
}

@Test func differentNamesOrSeedsGiveDifferentStreams() {
    func first(_ g: SeededGenerator, _ n: Int = 8) -> [UInt64] { var g = g; return (0..<n).map { _ in g.next() } }
    let root = SeededGenerator(seed: 7)
    let names = ["link-loss", "link-loss2", "arp", "dns", "", "a", "b"]
    let sequences = names.map { first(root.stream($0)) }
    for i in sequences.indices {
        for j in sequences.indices where j > i {
            #expect(sequences[i] != sequences[j], "streams \(names[i]) and \(names[j]) collide")
        }
    }
    #expect(first(SeededGenerator(seed: 8).stream("arp")) != first(root.stream("arp")))
    // A stream is not the parent's own sequence either.
    #expect(first(root) != first(root.stream("")))
}

@Test func streamsDependOnlyOnSeedAndName() {
    // Draw from the parent and create streams in a different order: nothing changes.
    var parent = SeededGenerator(seed: 99)
    let arpFirst = parent.stream("arp")
    let dnsFirst = parent.stream("dns")
    for _ in 0..<1000 { _ = parent.next() }
    let dnsLater = parent.stream("dns")
    let arpLater = parent.stream("arp")
    func first(_ g: SeededGenerator) -> [UInt64] { var g = g; return (0..<16).map { _ in g.next() } }
    #expect(first(arpFirst) == first(arpLater))
    #expect(first(dnsFirst) == first(dnsLater))
    // Nested streams are streams of the derived seed.
    #expect(first(parent.stream("kube").stream("dns")) == first(SeededGenerator(seed: 99).stream("kube").stream("dns")))
}

@Test func nextDoubleIsInUnitIntervalWith53Bits() {
    var g = SeededGenerator(seed: 3)
    var sum = 0.0
    let n = 100_000
    for _ in 0..<n {
        let u = g.nextDouble()
        #expect(u >= 0 && u < 1)
        #expect((u * 0x1.0p53).rounded(.towardZero) == u * 0x1.0p53)   // a multiple of 2^-53
        sum += u
    }
    // Mean 1/2, standard error 1/sqrt(12 n) ~ 0.0009: allow 5 sigma.
    #expect(abs(sum / Double(n) - 0.5) < 0.0046)
    var h = SeededGenerator(seed: 42)
    #expect(h.nextDouble() == Double(UInt64(0x1578_0B2E_0C2E_C716) >> 11) * 0x1.0p-53)
}

@Test func exponentialHasTheRequestedMean() {
    var g = SeededGenerator(seed: 11).stream("exp")
    let n = 200_000
    let mean = 1_000.0
    var sum = 0.0
    var sumSquares = 0.0
    for _ in 0..<n {
        let x = g.exponential(mean: mean)
        #expect(x >= 0 && x.isFinite)
        sum += x
        sumSquares += x * x
    }
    let sampleMean = sum / Double(n)
    // Standard error of the mean is mean / sqrt(n) ~ 2.24: allow 5 sigma.
    #expect(abs(sampleMean - mean) < 5 * mean / Double(n).squareRoot())
    // An exponential's variance is mean^2: check within 5%.
    let variance = sumSquares / Double(n) - sampleMean * sampleMean
    #expect(abs(variance / (mean * mean) - 1) < 0.05)
}

@Test func exponentialIsDeterministic() {
    var a = SeededGenerator(seed: 5)
    var b = SeededGenerator(seed: 5)
    for _ in 0..<1000 { #expect(a.exponential(mean: 3).bitPattern == b.exponential(mean: 3).bitPattern) }
}

@Test func naturalLogarithmIsWithinOneUlpOfLibm() {
    var g = SeededGenerator(seed: 17)
    var inputs: [Double] = [1.0, 0.5, 0.25, 0x1.0p-53, 0x1.0p-1022, 2.0, 10.0, 1e300,
                            (1.0).nextDown, (1.0).nextUp, 0.7071067811865476, 1.4142135623730951]
    for _ in 0..<100_000 { inputs.append(1.0 - g.nextDouble()) }
    for _ in 0..<10_000 { inputs.append(Double(bitPattern: g.next() & 0x7FDF_FFFF_FFFF_FFFF | 0x0010_0000_0000_0000)) }
    for x in inputs {
        let ours = naturalLogarithm(x)
        let reference = log(x)
        let ulp = Swift.max(reference.ulp, Double.leastNormalMagnitude)
        #expect(abs(ours - reference) <= ulp, "ln(\(x)): \(ours) vs libm \(reference)")
    }
    #expect(naturalLogarithm(1.0) == 0)
}
