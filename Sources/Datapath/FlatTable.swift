/// A growable table of structs in one flat buffer, for the world's per-device and per-core
/// state: every hop writes a few fields of them (counters, a core's queue and clock), and in
/// a Swift array each such write pays a uniqueness check (as the packet pool's per-slot
/// state did, PacketPool.swift). Elements never move while the table lives except when it
/// grows, which happens only while the world is built. Indices are checked in debug builds.
final class FlatTable<Element> {
    private var base = UnsafeMutablePointer<Element>.allocate(capacity: 1)
    private var capacity = 1
    private(set) var count = 0

    init() {}

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    subscript(i: Int) -> Element {
        unsafeAddress {
            assert(i >= 0 && i < count, "index \(i) out of range 0..<\(count)")
            return UnsafePointer(base + i)
        }
        unsafeMutableAddress {
            assert(i >= 0 && i < count, "index \(i) out of range 0..<\(count)")
            return base + i
        }
    }

    func append(_ e: Element) {
        reserve(count + 1)
        (base + count).initialize(to: e)
        count += 1
    }

    func append(repeating e: Element, count n: Int) {
        reserve(count + n)
        (base + count).initialize(repeating: e, count: n)
        count += n
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let c = max(2 * capacity, n)
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: c)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = c
    }
}
