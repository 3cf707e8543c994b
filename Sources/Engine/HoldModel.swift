/// The hold model: the classic priority-queue benchmark that ns-3's `bench-scheduler`
/// runs. Fixed here so `podwire bench` and Benchmarks/ measure the same workload.
///
/// `pendingEvents` events are scheduled at exponentially distributed times from zero;
/// then each pop schedules one new event at `now` + an exponential increment (mean 1 µs,
/// whole nanoseconds, from the seeded generator's "hold" stream), so the queue size stays
/// constant. The events go through the real `Scheduler` hot path (`next(until:)` and
/// `schedule(_:after:)`). No wall clock here: the caller times `run`.

public struct HoldModel {
    /// The hold model's payload: small, like the datapath's event enum.
    @usableFromInline
    struct Tick {
        @usableFromInline var generation: UInt32
        @inlinable init(generation: UInt32) { self.generation = generation }
    }

    /// Mean scheduling increment, in nanoseconds.
    public static let meanIncrementNanoseconds = 1_000.0

    @usableFromInline var scheduler: Scheduler<Tick>
    @usableFromInline var random: SeededGenerator

    public init(pendingEvents: Int = 100_000, seed: UInt64 = 1) {
        precondition(pendingEvents > 0, "HoldModel: needs at least one pending event")
        scheduler = Scheduler(minimumCapacity: pendingEvents)
        random = SeededGenerator(seed: seed).stream("hold")
        for _ in 0..<pendingEvents {
            scheduler.schedule(Tick(generation: 0), after: Self.increment(&random))
        }
    }

    @inlinable @inline(__always)
    static func increment(_ random: inout SeededGenerator) -> SimDuration {
        .nanoseconds(Int64(random.exponential(mean: meanIncrementNanoseconds)))
    }

    /// The simulated time reached so far.
    public var now: SimTime { scheduler.now }

    /// Runs `events` pops (each scheduling one new event); returns a checksum of the popped times so the work cannot be optimised away.
    /// The checksum depends on the order of the pops, so it also pins the queue's behaviour.
    public mutating func run(events: Int) -> UInt64 {
        var checksum: UInt64 = 0xCBF2_9CE4_8422_2325
        for _ in 0..<events {
            guard let tick = scheduler.next(until: .distantFuture) else { break }
            checksum = (checksum ^ UInt64(bitPattern: scheduler.now.nanoseconds)) &* 0x0000_0100_0000_01B3
            scheduler.schedule(Tick(generation: tick.generation &+ 1), after: Self.increment(&random))
        }
        return checksum
    }
}
