/// The simulator core: a manual clock plus an `EventQueue` (STYLE.md "Engine"). An
/// instance, never a global, so two worlds can run side by side in one process; the
/// datapath's World owns one and drives it with its own enum of event kinds:
///
///     while let event = scheduler.next(until: end) {
///         switch event { case .deliver(let frame, let device): ... }
///     }
///
/// Time only moves forward, and only here: `now` is the time of the event being handled.

/// A clock plus a queue: the simulator core that the datapath's World drives.
public struct Scheduler<Event> {
    @usableFromInline var queue: EventQueue<Event>

    // Read-only to users; stored under other names so the `@inlinable` hot path can set them
    // (a `private(set)` setter is not usable from inlinable code).
    @usableFromInline var currentTime: SimTime = .zero
    @usableFromInline var processed: UInt64 = 0

    /// The current simulated time; starts at `.zero`.
    @inlinable public var now: SimTime { currentTime }
    /// Events returned by `next(until:)` so far.
    @inlinable public var eventsProcessed: UInt64 { processed }

    @inlinable public init(minimumCapacity: Int = 1024) {
        queue = EventQueue(minimumCapacity: minimumCapacity)
    }

    /// Live events still to run.
    @inlinable public var pendingCount: Int { queue.count }

    /// Schedules `event` at `time`, which must not be in the past.
    @discardableResult
    @inlinable public mutating func schedule(_ event: Event, at time: SimTime) -> EventID {
        precondition(time >= now, "Scheduler: event scheduled in the past")
        return queue.schedule(event, at: time)
    }

    /// Schedules `event` at `now + delay`; `delay` must not be negative.
    @discardableResult
    @inlinable public mutating func schedule(_ event: Event, after delay: SimDuration) -> EventID {
        precondition(delay.nanoseconds >= 0, "Scheduler: negative delay")
        return queue.schedule(event, at: now + delay)
    }

    /// Cancels a pending event; a no-op for an event that already ran or was cancelled.
    @inlinable public mutating func cancel(_ id: EventID) {
        queue.cancel(id)
    }

    /// Runs an event without queueing it: when `time` is strictly earlier than every pending
    /// event and not after `limit`, moves the clock to `time`, counts one event and returns
    /// true — the caller then handles the event it would have scheduled, exactly as if
    /// `next(until: limit)` had returned it (it would have been next: strictly earlier than
    /// everything pending, so no FIFO tie is skipped). Otherwise changes nothing.
    @inlinable @inline(__always)
    public mutating func advance(to time: SimTime, notAfter limit: SimTime) -> Bool {
        guard time <= limit, time >= currentTime,
              EventQueue<Event>.key(time) < queue.minimumKey() else { return false }
        currentTime = time
        processed &+= 1
        return true
    }

    /// The next event due no later than `limit`, advancing `now` to its time; nil when nothing is
    /// due by `limit` — then `now` becomes `limit` unless limit == .distantFuture (run until idle:
    /// now stays at the last event's time). A `limit` earlier than `now` returns nil and leaves
    /// `now` alone: time never runs backwards.
    @inlinable public mutating func next(until limit: SimTime) -> Event? {
        if let (entry, _) = queue.popEntry(notAfter: limit, readSequence: false) {
            currentTime = EventQueue<Event>.time(entry.key)
            processed &+= 1
            return entry.event
        }
        if limit != .distantFuture && limit > now {
            currentTime = limit
        }
        return nil
    }
}

extension Scheduler: Sendable where Event: Sendable {}
