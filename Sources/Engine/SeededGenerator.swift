/// Seeded randomness (STYLE.md "Engine"): the one generator type of the simulator,
/// xoshiro256** seeded through SplitMix64 (both by Sebastiano Vigna, prng.di.unimi.it),
/// split into named per-purpose streams so that adding a consumer of randomness in one
/// place never shifts the numbers another place sees. `SystemRandomNumberGenerator`,
/// `Date()` and clocks never appear below the CLI.
///
/// Everything here is integer or correctly specified IEEE arithmetic with no libm call
/// (the logarithm is an fdlibm port), so a seed gives bit-identical runs on every platform.

/// SplitMix64: the seeder recommended for xoshiro, and the mixer of stream names.
@usableFromInline
internal struct SplitMix64 {
    @usableFromInline var state: UInt64

    @inlinable init(state: UInt64) { self.state = state }

    @inlinable mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A deterministic xoshiro256** generator. Use one per purpose, derived with
/// `stream(_:)` from the run's seed: `let loss = root.stream("link-loss")`.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The seed this generator was made from; streams derive from it, not from the state.
    public let seed: UInt64
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    /// The state is four consecutive SplitMix64 outputs from `seed`, as Vigna recommends;
    /// they are never all zero.
    @inlinable public init(seed: UInt64) {
        self.seed = seed
        var sm = SplitMix64(state: seed)
        s0 = sm.next()
        s1 = sm.next()
        s2 = sm.next()
        s3 = sm.next()
    }

    /// A generator in a given raw state, for known-answer tests against the reference code.
    init(seed: UInt64, rawState s0: UInt64, _ s1: UInt64, _ s2: UInt64, _ s3: UInt64) {
        self.seed = seed
        self.s0 = s0
        self.s1 = s1
        self.s2 = s2
        self.s3 = s3
    }

    /// An independent stream named `name`, derived from this generator's seed only: the
    /// same seed and name always give the same stream, whatever was drawn before and in
    /// whichever order streams are created. The derived seed is SplitMix64 applied to
    /// (SplitMix64(seed) xor FNV-1a-64(UTF-8 of name)).
    public func stream(_ name: String) -> SeededGenerator {
        var fnv: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            fnv ^= UInt64(byte)
            fnv &*= 0x0000_0100_0000_01B3
        }
        var outer = SplitMix64(state: seed)
        var inner = SplitMix64(state: outer.next() ^ fnv)
        return SeededGenerator(seed: inner.next())
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    @inlinable public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits: every value is a multiple of 2^-53.
    @inlinable public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Exponentially distributed with the given mean (inverse transform: -mean·ln(1-u)).
    /// Always finite and >= 0: 1-u lies in (0, 1] and is exact.
    @inlinable @inline(__always) public mutating func exponential(mean: Double) -> Double {
        -mean * naturalLogarithm(1.0 - nextDouble())
    }
}

/// ln(x) for positive normal finite `x`; within 1 ulp. A port of fdlibm's `e_log.c`
/// (as simplified in FreeBSD msun and musl `src/math/log.c`), so results do not depend
/// on the platform's libm. Inputs outside that domain are a caller bug (only
/// `exponential` calls it, with x in [2^-53, 1]).
@inlinable @inline(__always)
internal func naturalLogarithm(_ input: Double) -> Double {
    let ln2Hi = 6.93147180369123816490e-01   // 0x3FE62E42_FEE00000
    let ln2Lo = 1.90821492927058770002e-10   // 0x3DEA39EF_35793C76
    let lg1 = 6.666666666666735130e-01       // 0x3FE55555_55555593
    let lg2 = 3.999999999940941908e-01       // 0x3FD99999_9997FA04
    let lg3 = 2.857142874366239149e-01       // 0x3FD24924_94229359
    let lg4 = 2.222219843214978396e-01       // 0x3FCC71C5_1D8E78AF
    let lg5 = 1.818357216161805012e-01       // 0x3FC74664_96CB03DE
    let lg6 = 1.531383769920937332e-01       // 0x3FC39A09_D078C69F
    let lg7 = 1.479819860511658591e-01       // 0x3FC2F112_DF3E5244

    let bits = input.bitPattern
    var hx = UInt32(truncatingIfNeeded: bits >> 32)
    if bits == 0x3FF0_0000_0000_0000 { return 0 }
    // Reduce x into [sqrt(2)/2, sqrt(2)): x = 2^k * m.
    hx &+= 0x3FF0_0000 &- 0x3FE6_A09E
    let k = Int32(bitPattern: hx >> 20) &- 0x3FF
    hx = (hx & 0x000F_FFFF) &+ 0x3FE6_A09E
    let x = Double(bitPattern: UInt64(hx) << 32 | (bits & 0xFFFF_FFFF))

    let f = x - 1.0
    let hfsq = 0.5 * f * f
    let s = f / (2.0 + f)
    let z = s * s
    let w = z * z
    let t1 = w * (lg2 + w * (lg4 + w * lg6))
    let t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
    let r = t2 + t1
    let dk = Double(k)
    return s * (hfsq + r) + dk * ln2Lo - hfsq + f + dk * ln2Hi
}
